"""From surge readings to alerts: episode bookkeeping per kind, and the evidence for sales."""

import uuid
from dataclasses import dataclass

from schemas.common import from_ms
from schemas.outputs import ChannelPoints, SurgeAlert, SurgeTopic
from streams.logic.aggregates import Aggregates, windows_of
from streams.logic.rules import IMPLICIT_CLUSTER, IntentRules, Rules
from streams.logic.state import AccountState, SurgeEpisode
from streams.logic.surge import (
    Reading,
    engagement_enters,
    engagement_stays,
    enter,
    intent_enters,
    intent_stays,
    read_engagement,
    read_intent,
    strength,
)
from streams.logic.windows import DAY_MS, WEEK_DAYS, in_window

__all__ = ["Channel", "Standing", "alert_id", "channels", "detect_surges", "standing"]

_NAMESPACE = uuid.UUID("6f1c1d2e-3a7b-4c55-9a0e-2b8f0a6d4e71")
MAX_CONTACTS = 10


def alert_id(account_id: str, kind: str, entered_at: int) -> str:
    """Stable across redelivery and replay: the same surge always has the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"{account_id}|{kind}|{entered_at}"))


def _evidence(state: AccountState, now: int) -> tuple[list[str], list[ChannelPoints]]:
    contacts: set[str] = set()
    channels: dict[str, float] = {}
    for day, bucket in state.engagement.items():
        if in_window(day, now, WEEK_DAYS):
            contacts.update(bucket.contacts)
            for channel, points in bucket.channels.items():
                channels[channel] = channels.get(channel, 0.0) + points
    top = sorted(((p, c) for c, p in channels.items() if p > 0), key=lambda x: (-x[0], x[1]))
    return sorted(contacts), [ChannelPoints(channel=c, points=p) for p, c in top[:3]]


def _said(state: AccountState, topic: str, now: int, rules: Rules) -> tuple[str | None, int]:
    """Which provider gave a topic its highest weighted score this week, and on which day
    (the latest such day; (None, 0) when none did)."""
    best: tuple[float, int, str] | None = None
    for provider, days in state.intent.get(topic, {}).items():
        for day, raw in days.items():
            if in_window(day, now, WEEK_DAYS):
                candidate = (rules.intent.weighted(provider, raw), day, provider)
                if best is None or candidate > best:
                    best = candidate
    return (None, 0) if best is None else (best[2], best[1])


def _topics(state: AccountState, reading: Reading, now: int, rules: Rules) -> list[SurgeTopic]:
    topics = []
    for t in reading.topics:
        provider, day = _said(state, t.topic, now, rules)
        topics.append(
            SurgeTopic(
                topic=t.topic,
                score=t.score,
                baseline=t.baseline,
                ratio=t.ratio,
                provider=provider,
                seen_on=from_ms(day * DAY_MS).date() if provider is not None else None,
            )
        )
    return topics


def _alert(
    state: AccountState, reading: Reading, now: int, rules: Rules, channel: "Channel"
) -> SurgeAlert:
    contacts, channels = _evidence(state, now)
    profile = state.profile
    return SurgeAlert(
        alert_id=alert_id(state.account_id, channel.key, now),
        account_id=state.account_id,
        account_name=profile.name if profile else None,
        owner=profile.owner if profile else None,
        kind=reading.kind,  # type: ignore[arg-type]
        cluster=channel.cluster or None,
        score=reading.score,
        baseline=reading.baseline,
        ratio=reading.ratio,
        window=f"7d vs {rules.surge.baseline_weeks}w mean",
        topics=_topics(state, reading, now, rules),
        tier=state.tier,
        engaged_contacts=len(contacts),
        contacts=contacts[:MAX_CONTACTS],
        top_channels=channels,
        detected_at=from_ms(now),
    )


class Channel:
    """One surge an account can be in, with its own episode: engagement, or intent in one
    cluster of topics (the implicit cluster keeps the episode key `intent`, so alert ids
    stay what they were before clusters existed)."""

    __slots__ = ("cluster", "key", "kind")

    def __init__(self, kind: str, cluster: str) -> None:
        self.kind = kind
        self.cluster = cluster
        self.key = (
            kind if kind == "engagement" or cluster == IMPLICIT_CLUSTER else f"intent:{cluster}"
        )


_CHANNELS: dict[int, tuple[IntentRules, list[Channel]]] = {}
"""Channels per catalogue (by identity: a rule set lives as long as the process uses it),
so an evaluation, which runs at every event, builds none."""


def channels(rules: Rules) -> list[Channel]:
    """Intent per cluster (the implicit one first), then engagement."""
    intent = rules.intent
    known = _CHANNELS.get(id(intent))
    if known is not None and known[0] is intent:
        return known[1]
    found = [Channel("intent", c) for c in intent.cluster_names()]
    found.append(Channel("engagement", IMPLICIT_CLUSTER))
    _CHANNELS[id(intent)] = (intent, found)
    return found


def _highs(windows: Aggregates, rules: Rules, cluster: str) -> dict[str, list[float]]:
    """The weekly highs of the topics in one cluster (all of them without a catalogue)."""
    intent = rules.intent
    if not intent.clusters:
        return windows.highs
    return {t: w for t, w in windows.highs.items() if cluster in intent.clusters_of(t)}


def _read(channel: Channel, windows: Aggregates, rules: Rules) -> Reading:
    if channel.kind == "intent":
        highs = _highs(windows, rules, channel.cluster)
        return read_intent(highs, rules.surge, rules.intent.min_surging_topics)
    return read_engagement(windows.week, windows.before, rules.surge)


def _enters(channel: Channel, windows: Aggregates, rules: Rules) -> bool:
    r = rules.surge
    if channel.kind == "engagement":
        return engagement_enters(windows.week, windows.before, r)
    # Below every floor no topic can enter: most quiet accounts' evaluations stop here.
    if windows.week_top < min(r.intent_enter_score, r.intent_min_score):
        return False
    highs = _highs(windows, rules, channel.cluster)
    return intent_enters(highs, r, rules.intent.min_surging_topics)


def _stays(channel: Channel, windows: Aggregates, rules: Rules) -> bool:
    if channel.kind == "engagement":
        return engagement_stays(windows.week, windows.before, rules.surge)
    highs = _highs(windows, rules, channel.cluster)
    return intent_stays(highs, rules.surge, rules.intent.min_surging_topics)


@dataclass(frozen=True, slots=True)
class Standing:
    """An account's open surges, for the view and the ranking of surging accounts."""

    kinds: tuple[str, ...]
    """Open episodes' keys: `engagement`, `intent`, `intent:<cluster>`."""
    strength: float


def standing(state: AccountState, rules: Rules) -> Standing:
    """The open episodes (of channels these rules have), and the strongest of their
    current readings."""
    open_keys = {key for key, episode in state.surges.items() if episode.active}
    if not open_keys:
        return Standing((), 0.0)
    open_channels = [c for c in channels(rules) if c.key in open_keys]
    if not open_channels:
        return Standing((), 0.0)
    windows = windows_of(state, rules, state.clock)
    readings = [_read(c, windows, rules) for c in open_channels]
    return Standing(
        tuple(sorted(c.key for c in open_channels)),
        max(strength(r, rules.surge) for r in readings),
    )


def detect_surges(
    state: AccountState, rules: Rules, now: int, windows: Aggregates
) -> list[SurgeAlert]:
    """Step each channel's episode at `now` (with the account's `windows` then); alert on
    entries the tier filter allows.

    An entry the filter blocks still opens the episode (the view shows the surge) but
    does not start the cool-down. An episode of a channel these rules no longer have (a
    cluster removed from the catalogue) is closed.
    """
    alerts = []
    known = channels(rules)
    for channel in known:
        episode = state.surges.get(channel.key)
        if episode is not None and episode.active:
            if not _stays(channel, windows, rules):
                episode.active = False
            continue
        if not _enters(channel, windows, rules):
            continue  # and a quiet account's state stays small
        if episode is None:
            episode = state.surges[channel.key] = SurgeEpisode()
        if enter(episode, now, rules.surge, may_alert=state.tier in rules.surge.alert_tiers):
            alerts.append(_alert(state, _read(channel, windows, rules), now, rules, channel))
    if len(state.surges) > len(known):
        keys = {c.key for c in known}
        for key, episode in state.surges.items():
            if key not in keys:
                episode.active = False
    return alerts
