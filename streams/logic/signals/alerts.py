"""From surge readings to alerts: episode bookkeeping per kind, and the evidence for sales."""

import uuid
from dataclasses import dataclass

from schemas.common import from_ms
from schemas.outputs import ChannelPoints, SurgeAlert, SurgeTopic
from streams.logic.rules import Rules
from streams.logic.signals.aggregates import Aggregates, windows_of
from streams.logic.signals.catalogue import catalogue
from streams.logic.signals.committee import members
from streams.logic.signals.outcomes import held_out
from streams.logic.signals.surge import (
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
from streams.logic.state.roster import NO_ROSTERS, Rosters
from streams.logic.state.state import UNNAMED_PROVIDER, AccountState, SurgeEpisode
from streams.logic.state.windows import DAY_MS, WEEK_DAYS, in_window

__all__ = ["Standing", "alert_id", "alerted_episodes", "detect_surges", "owned_alerts", "standing"]

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
    """Which provider gave a topic (any spelling of it) its highest weighted score this
    week, and on which day (the latest such day); (None, 0) when none did or the score
    was stored before providers were kept."""
    cat = catalogue(rules.intent)
    best: tuple[float, int, str] | None = None
    for spelling, providers in state.intent.items():
        if cat.key(spelling) != topic:
            continue
        for provider, days in providers.items():
            for day, raw in days.items():
                if in_window(day, now, WEEK_DAYS):
                    candidate = (cat.weighted(provider, raw), day, provider)
                    if best is None or candidate > best:
                        best = candidate
    if best is None or best[2] == UNNAMED_PROVIDER:
        return (None, 0)
    return (best[2], best[1])


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
    state: AccountState,
    reading: Reading,
    now: int,
    rules: Rules,
    ident: str,
    cluster: str,
    rosters: Rosters,
    began: int,
    reissue_of: str | None = None,
) -> SurgeAlert:
    """The alert of an episode that began at `began` (its holdout is drawn for then)."""
    contacts, channels = _evidence(state, now)
    roster = rosters.get(state.account_id) if contacts else None
    name, owner = state.name_and_owner()
    return SurgeAlert(
        alert_id=ident,
        account_id=state.account_id,
        account_name=name,
        owner=owner,
        kind=reading.kind,  # type: ignore[arg-type]
        cluster=cluster or None,
        score=reading.score,
        baseline=reading.baseline,
        ratio=reading.ratio,
        window=f"7d vs {rules.surge.baseline_weeks}w mean",
        topics=_topics(state, reading, now, rules),
        tier=state.tier,
        engaged_contacts=len(contacts),
        contacts=[c for c in contacts if "@" not in c][:MAX_CONTACTS],  # no emails
        committee=members(contacts, roster, rules, MAX_CONTACTS),
        top_channels=channels,
        detected_at=from_ms(now),
        reissue_of=reissue_of,
        holdout=held_out(state.account_id, began, rules.outcomes),
    )


def _highs(windows: Aggregates, cluster: str) -> dict[str, list[float]]:
    """The weekly highs of the topics in one cluster (all of them without a catalogue)."""
    if not windows.catalogue.named:
        return windows.highs
    return windows.by_cluster.get(cluster, _NONE)


_NONE: dict[str, list[float]] = {}


def _read(kind: str, cluster: str, windows: Aggregates, rules: Rules) -> Reading:
    if kind == "intent":
        highs = _highs(windows, cluster)
        return read_intent(highs, rules.surge, windows.catalogue.min_topics)
    return read_engagement(windows.week, windows.before, rules.surge)


def _enters(kind: str, cluster: str, windows: Aggregates, rules: Rules) -> bool:
    r = rules.surge
    if kind == "engagement":
        return engagement_enters(windows.week, windows.before, r)
    # Below every floor no topic can enter: most quiet accounts' evaluations stop here.
    if windows.week_top < min(r.intent_enter_score, r.intent_min_score):
        return False
    highs = _highs(windows, cluster)
    return intent_enters(highs, r, windows.catalogue.min_topics)


def _stays(kind: str, cluster: str, windows: Aggregates, rules: Rules) -> bool:
    if kind == "engagement":
        return engagement_stays(windows.week, windows.before, rules.surge)
    highs = _highs(windows, cluster)
    return intent_stays(highs, rules.surge, windows.catalogue.min_topics)


@dataclass(frozen=True, slots=True)
class Standing:
    """An account's open surges, for the view and the ranking of surging accounts."""

    kinds: tuple[str, ...]
    """Open episodes' keys: `engagement`, `intent`, `intent:<cluster>`."""
    strength: float


def standing(state: AccountState, rules: Rules) -> Standing:
    """The open episodes (of surges these rules have, and not held out), and the strongest
    of their current readings."""
    open_keys = {
        key
        for key, episode in state.surges.items()
        if episode.active
        and not (  # held out: then no seller sees it surge
            episode.entered_at is not None
            and held_out(state.account_id, episode.entered_at, rules.outcomes)
        )
    }
    if not open_keys:
        return Standing((), 0.0)
    channels = catalogue(rules.intent).channels
    found = [(kind, c, key) for kind, c, key in channels if key in open_keys]
    if not found:
        return Standing((), 0.0)
    windows = windows_of(state, rules, state.clock)
    readings = [_read(kind, cluster, windows, rules) for kind, cluster, _ in found]
    return Standing(
        tuple(sorted(key for _, _, key in found)),
        max(strength(r, rules.surge) for r in readings),
    )


def detect_surges(
    state: AccountState,
    rules: Rules,
    now: int,
    windows: Aggregates,
    rosters: Rosters = NO_ROSTERS,
) -> list[SurgeAlert]:
    """Step each surge's episode at `now` (with the account's `windows` then); alert on
    entries the tier filter allows.

    An entry the filter blocks still opens the episode (the view shows the surge) but
    does not start the cool-down. An open episode of a surge these rules no longer have
    (a cluster taken out of the catalogue) is closed.
    """
    alerts = []
    cat = windows.catalogue
    for kind, cluster, key in cat.channels:
        episode = state.surges.get(key)
        if episode is not None and episode.active:
            if not _stays(kind, cluster, windows, rules):
                episode.active = False
            continue
        if not _enters(kind, cluster, windows, rules):
            continue  # and a quiet account's state stays small
        if episode is None:
            episode = state.surges[key] = SurgeEpisode()
        if enter(episode, now, rules.surge, may_alert=state.tier in rules.surge.alert_tiers):
            reading = _read(kind, cluster, windows, rules)
            ident = alert_id(state.account_id, key, now)
            alerts.append(_alert(state, reading, now, rules, ident, cluster, rosters, now))
    if state.surges:
        for key, episode in state.surges.items():
            if episode.active and key not in cat.channel_keys:
                episode.active = False
    return alerts


def alerted_episodes(state: AccountState) -> dict[str, int]:
    """The open episodes that raised an alert when they began: key -> when."""
    return {
        key: episode.entered_at
        for key, episode in state.surges.items()
        if episode.active
        and episode.entered_at is not None
        and episode.entered_at == episode.last_alert_at
    }


def owned_alerts(
    state: AccountState,
    rules: Rules,
    now: int,
    windows: Aggregates,
    before: dict[str, int],
    rosters: Rosters = NO_ROSTERS,
) -> list[SurgeAlert]:
    """The alerts of open episodes that alerted before the account had an owner
    (`before`: alerted_episodes then), raised again now that it has one, with the
    evidence of `now`: an owner route never heard of them, and would not otherwise."""
    after = alerted_episodes(state)
    alerts = []
    for kind, cluster, key in windows.catalogue.channels:
        began = before.get(key)
        if began is None or after.get(key) != began:
            continue  # not open since that alert: a new alert named the owner already
        reading = _read(kind, cluster, windows, rules)
        ident = alert_id(state.account_id, f"{key}>owner", began)  # one per episode
        first = alert_id(state.account_id, key, began)
        alerts.append(_alert(state, reading, now, rules, ident, cluster, rosters, began, first))
    return alerts
