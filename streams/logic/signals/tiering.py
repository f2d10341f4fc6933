"""Tiering: first matching rule wins, and the rule and inputs are kept.

`measure` reads the account's signals at a moment; `decide` applies the rule table to
them. Splitting the two lets a backtest run two rule sets over the same measurements.
"""

from streams.logic.rules import Rules, TierRule
from streams.logic.signals.aggregates import Aggregates, aggregate
from streams.logic.signals.catalogue import catalogue
from streams.logic.signals.committee import UNKNOWN, persona_counts
from streams.logic.state.roster import NO_ROSTERS, Rosters
from streams.logic.state.state import AccountState
from streams.logic.state.windows import DAY_MS, sooner

__all__ = ["UNTIERED_RULE", "Signals", "decide", "measure"]

UNTIERED_RULE = "untiered"


_FIELDS = (
    "acv",
    "due_at",
    "engaged_contacts",
    "engagement_points",
    "fit",
    "intent_max",
    "intent_topics",
    "personas",
    "recent_engagement",
    "recent_intent",
)
"""Signals' attributes, for comparing and showing them (a compiled class has no `__slots__`
attribute to read them from)."""


class Signals:
    """An account's signals at one moment, measured at every evaluation.

    A plain class, not a dataclass: compiled (streams/dev/kernel.py), its constructor is C,
    while a dataclass's is generated Python that costs more than the measuring.
    """

    __slots__ = _FIELDS

    def __init__(
        self,
        fit: float | None,
        acv: float,
        intent_max: float,
        intent_topics: tuple[str, ...],
        engagement_points: float,
        engaged_contacts: int,
        recent_intent: bool,
        recent_engagement: bool,
        due_at: int | None,
        personas: dict[str, int] | None = None,
    ) -> None:
        self.fit = fit
        self.acv = acv
        self.intent_max = intent_max
        self.intent_topics = intent_topics
        self.engagement_points = engagement_points
        self.engaged_contacts = engaged_contacts
        self.recent_intent = recent_intent
        self.recent_engagement = recent_engagement
        self.due_at = due_at
        """When a window next drops data: the earliest time these signals can go stale."""
        self.personas = personas
        """Engaged contacts per persona in the engagement window; None when no tier rule
        reads them (counted then only for a tier change's inputs)."""

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signals) and self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Signals({fields})"


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
    state: AccountState,
    rules: Rules,
    now: int,
    windows: Aggregates | None = None,
    rosters: Rosters = NO_ROSTERS,
) -> Signals:
    """The signals at `now`, from the account's `windows` (aggregated here if not given)
    and, when a tier rule reads personas, its roster in `rosters`."""
    a = windows or aggregate(state, rules, now)
    intent_max = 0.0
    hot: list[str] = []
    for topic, score in a.topic_max.items():
        intent_max = max(intent_max, score)
        if score >= rules.intent_min_score:
            hot.append(topic)
    hot.sort()
    points, contacts = a.points, len(a.contacts)
    return Signals(
        fit=state.profile.fit if state.profile else None,
        acv=_acv(state),
        intent_max=intent_max,
        intent_topics=tuple(hot),
        engagement_points=points,
        engaged_contacts=contacts,
        recent_intent=bool(hot),
        recent_engagement=points >= rules.engagement_min_points
        or contacts >= rules.engagement_min_contacts,
        due_at=sooner(
            _due(a.intent_first, rules.intent_window_days),
            _due(a.engagement_first, rules.engagement_window_days),
        ),
        personas=persona_counts(list(a.contacts), rosters.get(state.account_id), rules)
        if a.read_personas
        else None,
    )


def _recent_intent(rule: TierRule, s: Signals, rules: Rules) -> bool:
    """Recent intent as the rule means it: any topic that counts, or with
    `intent_clusters`, a topic in one of those clusters."""
    if not rule.intent_clusters or not s.recent_intent:
        return s.recent_intent
    cat = catalogue(rules.intent)
    return any(c in rule.intent_clusters for t in s.intent_topics for c in cat.clusters_of(t))


def _committee(rule: TierRule, personas: dict[str, int]) -> bool:
    """The personas the rule asks for are engaged (unknown is no persona)."""
    if any(not personas.get(p) for p in rule.require_personas):
        return False
    known = sum(1 for p, n in personas.items() if n and p != UNKNOWN)
    return known >= rule.min_personas


def _matches(rule: TierRule, s: Signals, rules: Rules) -> bool:
    if s.fit is None or s.fit < rule.min_fit or s.acv < rule.min_acv:
        return False
    # personas is None when no rule reads them: most rule sets pay one check, not a
    # property call per rule and evaluation.
    if s.personas is not None and rule.needs_personas and not _committee(rule, s.personas):
        return False
    if not rule.signals:
        return True
    wanted = (
        _recent_intent(rule, s, rules) if name == "intent" else s.recent_engagement
        for name in rule.signals
    )
    return all(wanted) if rule.match == "all" else any(wanted)


def decide(signals: Signals, rules: Rules) -> tuple[int, str]:
    """(tier, rule name) of the first rule that matches; (0, "untiered") if none does."""
    for rule in rules.tiers:
        if _matches(rule, signals, rules):
            return rule.tier, rule.name
    return 0, UNTIERED_RULE
