"""Tiering (design.md section 4): first matching rule wins, and the rule and inputs are kept.

`measure` reads the account's signals at a moment; `decide` applies the rule table to
them. Splitting the two lets a backtest run two rule sets over the same measurements.
"""

from dataclasses import dataclass

from streams.config import Rules, TierRule
from streams.logic.state import AccountState
from streams.logic.windows import DAY_MS, day_of

__all__ = ["UNTIERED_RULE", "Signals", "decide", "measure"]

UNTIERED_RULE = "untiered"


@dataclass(frozen=True, slots=True)
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


def measure(state: AccountState, rules: Rules, now: int) -> Signals:
    """The signals at `now`. Called on every event and tick: window bounds are computed
    once and each day is looked at once (it is the replay's hottest function)."""
    today = day_of(now)
    intent_start = today - rules.intent_window_days + 1
    topic_max: dict[str, float] = {}
    intent_first: int | None = None  # the oldest day with intent in the window
    for topic, days in state.intent.items():
        best: float | None = None
        for day, score in days.items():
            if intent_start <= day <= today:
                if best is None or score > best:
                    best = score
                if intent_first is None or day < intent_first:
                    intent_first = day
        if best is not None:
            topic_max[topic] = best
    intent_max = max(topic_max.values(), default=0.0)
    hot = tuple(sorted(t for t, s in topic_max.items() if s >= rules.intent_min_score))

    engagement_start = today - rules.engagement_window_days + 1
    points = 0.0
    contacts: set[str] = set()
    engagement_first: int | None = None
    for day, bucket in state.engagement.items():
        if engagement_start <= day <= today:
            points += bucket.points
            contacts.update(bucket.contacts)
            if engagement_first is None or day < engagement_first:
                engagement_first = day

    dues = [
        (first + window) * DAY_MS  # when the window drops its oldest day with data
        for first, window in (
            (intent_first, rules.intent_window_days),
            (engagement_first, rules.engagement_window_days),
        )
        if first is not None
    ]
    return Signals(
        fit=state.profile.fit if state.profile else None,
        acv=_acv(state),
        intent_max=intent_max,
        intent_topics=hot,
        engagement_points=points,
        engaged_contacts=len(contacts),
        recent_intent=bool(hot),
        recent_engagement=points >= rules.engagement_min_points
        or len(contacts) >= rules.engagement_min_contacts,
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
