"""Tiering (design.md section 4): first matching rule wins, and the rule and inputs are kept.

`measure` reads the account's signals at a moment; `decide` applies the rule table to
them. Splitting the two lets a backtest run two rule sets over the same measurements.
"""

from dataclasses import dataclass

from streams.config import Rules, TierRule
from streams.logic.aggregates import Aggregates, aggregate
from streams.logic.state import AccountState
from streams.logic.windows import DAY_MS

__all__ = ["UNTIERED_RULE", "Signals", "decide", "measure"]

UNTIERED_RULE = "untiered"


@dataclass(slots=True)
class Signals:
    fit: float | None
    acv: float
    intent_max: float
    intent_topics: tuple[str, ...]
    engagement_points: float
    engaged_contacts: int
    recent_intent: bool
    recent_engagement: bool
    due_at: int | None
    """When a window next drops data: the earliest time these signals can go stale."""


def _acv(state: AccountState) -> float:
    """Expected ACV from the profile, raised by the largest open opportunity."""
    acv = state.profile.expected_acv if state.profile else 0.0
    for o in state.opportunities.values():
        if o.closed_at is None and o.amount > acv:
            acv = o.amount
    return acv


def _due(first: int | None, window: int) -> int | None:
    """When a window drops its oldest day with data."""
    return None if first is None else (first + window) * DAY_MS


def measure(
    state: AccountState, rules: Rules, now: int, windows: Aggregates | None = None
) -> Signals:
    """The signals at `now`, from the account's `windows` (aggregated here if not given)."""
    a = windows or aggregate(state, rules, now)
    topic_max = a.topic_max
    hot = tuple(sorted(t for t, s in topic_max.items() if s >= rules.intent_min_score))
    points, contacts = a.points, len(a.contacts)
    dues = [
        d
        for d in (
            _due(a.intent_first, rules.intent_window_days),
            _due(a.engagement_first, rules.engagement_window_days),
        )
        if d is not None
    ]
    return Signals(
        fit=state.profile.fit if state.profile else None,
        acv=_acv(state),
        intent_max=max(topic_max.values()) if topic_max else 0.0,
        intent_topics=hot,
        engagement_points=points,
        engaged_contacts=contacts,
        recent_intent=bool(hot),
        recent_engagement=points >= rules.engagement_min_points
        or contacts >= rules.engagement_min_contacts,
        due_at=min(dues) if dues else None,
    )


def _matches(rule: TierRule, s: Signals) -> bool:
    if s.fit is None or s.fit < rule.min_fit or s.acv < rule.min_acv:
        return False
    if not rule.signals:
        return True
    wanted = (s.recent_intent if name == "intent" else s.recent_engagement for name in rule.signals)
    return all(wanted) if rule.match == "all" else any(wanted)


def decide(signals: Signals, rules: Rules) -> tuple[int, str]:
    """(tier, rule name) of the first rule that matches; (0, "untiered") if none does."""
    for rule in rules.tiers:
        if _matches(rule, signals):
            return rule.tier, rule.name
    return 0, UNTIERED_RULE
