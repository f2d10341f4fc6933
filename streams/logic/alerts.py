"""From surge readings to alerts: episode bookkeeping per kind, and the evidence for sales."""

import uuid
from dataclasses import dataclass

from schemas.common import from_ms
from schemas.outputs import ChannelPoints, SurgeAlert, SurgeTopic
from streams.logic.aggregates import Aggregates, windows_of
from streams.logic.rules import Rules
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
from streams.logic.windows import WEEK_DAYS, in_window

__all__ = ["Standing", "alert_id", "detect_surges", "standing"]

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


def _alert(state: AccountState, reading: Reading, now: int, rules: Rules) -> SurgeAlert:
    contacts, channels = _evidence(state, now)
    profile = state.profile
    return SurgeAlert(
        alert_id=alert_id(state.account_id, reading.kind, now),
        account_id=state.account_id,
        account_name=profile.name if profile else None,
        owner=profile.owner if profile else None,
        kind=reading.kind,  # type: ignore[arg-type]
        score=reading.score,
        baseline=reading.baseline,
        ratio=reading.ratio,
        window=f"7d vs {rules.surge.baseline_weeks}w mean",
        topics=[
            SurgeTopic(topic=t.topic, score=t.score, baseline=t.baseline, ratio=t.ratio)
            for t in reading.topics
        ],
        tier=state.tier,
        engaged_contacts=len(contacts),
        contacts=contacts[:MAX_CONTACTS],
        top_channels=channels,
        detected_at=from_ms(now),
    )


KINDS = ("intent", "engagement")


def _read(kind: str, windows: Aggregates, rules: Rules) -> Reading:
    if kind == "intent":
        return read_intent(windows.highs, rules.surge)
    return read_engagement(windows.week, windows.before, rules.surge)


def _enters(kind: str, windows: Aggregates, rules: Rules) -> bool:
    r = rules.surge
    if kind == "engagement":
        return engagement_enters(windows.week, windows.before, r)
    # Below every floor no topic can enter: most quiet accounts' evaluations stop here.
    if windows.week_top < min(r.intent_enter_score, r.intent_min_score):
        return False
    return intent_enters(windows.highs, r)


def _stays(kind: str, windows: Aggregates, rules: Rules) -> bool:
    if kind == "engagement":
        return engagement_stays(windows.week, windows.before, rules.surge)
    return intent_stays(windows.highs, rules.surge)


@dataclass(frozen=True, slots=True)
class Standing:
    """An account's open surges, for the view and the ranking of surging accounts."""

    kinds: tuple[str, ...]
    strength: float


def standing(state: AccountState, rules: Rules) -> Standing:
    """The kinds whose episode is open, and the strongest of their current readings."""
    open_kinds = {kind for kind, episode in state.surges.items() if episode.active}
    if not open_kinds:
        return Standing((), 0.0)
    windows = windows_of(state, rules, state.clock)
    readings = [_read(kind, windows, rules) for kind in KINDS if kind in open_kinds]
    return Standing(tuple(sorted(open_kinds)), max(strength(r, rules.surge) for r in readings))


def detect_surges(
    state: AccountState, rules: Rules, now: int, windows: Aggregates
) -> list[SurgeAlert]:
    """Step each kind's episode at `now` (with the account's `windows` then); alert on
    entries the tier filter allows.

    An entry the filter blocks still opens the episode (the view shows the surge) but
    does not start the cool-down.
    """
    alerts = []
    for kind in KINDS:
        episode = state.surges.get(kind)
        if episode is not None and episode.active:
            if not _stays(kind, windows, rules):
                episode.active = False
            continue
        if not _enters(kind, windows, rules):
            continue  # and a quiet account's state stays small
        if episode is None:
            episode = state.surges[kind] = SurgeEpisode()
        if enter(episode, now, rules.surge, may_alert=state.tier in rules.surge.alert_tiers):
            alerts.append(_alert(state, _read(kind, windows, rules), now, rules))
    return alerts
