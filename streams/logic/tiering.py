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
    open_amounts = [o.amount for o in state.opportunities.values() if o.closed_at is None]
    expected = state.profile.expected_acv if state.profile else 0.0
    return max([expected, *open_amounts])


def measure(state: AccountState, rules: Rules, now: int, seen: Aggregates | None = None) -> Signals:
    """The signals at `now`, from the account's windows (`seen`, when already aggregated)."""
    a = seen or aggregate(state, rules, now)
    intent_max = max(a.topic_max.values(), default=0.0)
    hot = tuple(sorted(t for t, s in a.topic_max.items() if s >= rules.intent_min_score))
    dues = [
        (first + window) * DAY_MS  # when the window drops its oldest day with data
        for first, window in (
            (a.intent_first, rules.intent_window_days),
            (a.engagement_first, rules.engagement_window_days),
        )
        if first is not None
    ]
    return Signals(
        fit=state.profile.fit if state.profile else None,
        acv=_acv(state),
        intent_max=intent_max,
        intent_topics=hot,
        engagement_points=a.points,
        engaged_contacts=len(a.contacts),
        recent_intent=bool(hot),
        recent_engagement=a.points >= rules.engagement_min_points
        or len(a.contacts) >= rules.engagement_min_contacts,
        due_at=min(dues, default=None),
    )


def _matches(rule: TierRule, s: Signals) -> bool:
    if s.fit is None or s.fit < rule.min_fit or s.acv < rule.min_acv:
        return False
    present = {"intent": s.recent_intent, "engagement": s.recent_engagement}
    wanted = [present[name] for name in rule.signals]
    if not wanted:
        return True
    return all(wanted) if rule.match == "all" else any(wanted)


def decide(signals: Signals, rules: Rules) -> tuple[int, str]:
    """(tier, rule name) of the first rule that matches; (0, "untiered") if none does."""
    for rule in rules.tiers:
        if _matches(rule, signals):
            return rule.tier, rule.name
    return 0, UNTIERED_RULE
