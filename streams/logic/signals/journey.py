"""Journey stages: where an account stands, from unaware to customer.

The journey rules run top-down like the tier rules, first match wins, over the windows the
tiers read plus the account's deals: an account stands at the most advanced stage its
evidence supports. Time moves it down through the same staleness timer as tiers: the
matched rule's evidence has an edge (the oldest engaged day in the journey window, the
last touch) and the account is due for another look when that edge passes. Data leaving
a window can only un-match a rule, so a stage never rises with time alone.
"""

from collections.abc import Iterable

from schemas.common import from_ms
from schemas.outputs import StageChange, StageInputs
from streams.logic.rules import UNAWARE, JourneyRule, Rules
from streams.logic.signals.aggregates import Aggregates
from streams.logic.signals.tiering import Signals
from streams.logic.state.cache import ByIdentity
from streams.logic.state.customers import customer_of, is_customer
from streams.logic.state.state import AccountState
from streams.logic.state.windows import DAY_MS, sooner

__all__ = ["REMOVED", "funnel", "stage_change", "stage_counts", "stage_of"]

REMOVED = "removed"
"""The rule of the final change of an account that was removed."""


class _Step:
    """One journey rule as plain fields: read at every evaluation, and a compiled class's
    fields cost a pointer read where a pydantic model's attributes cost a lookup each."""

    __slots__ = (
        "engaged",
        "min_contacts",
        "min_points_m",
        "open_opportunity",
        "reads_window",
        "recent_intent",
        "stage",
        "touched",
        "won_deal",
    )

    def __init__(self, rule: JourneyRule) -> None:
        self.stage = rule.stage
        self.won_deal = rule.won_deal
        self.open_opportunity = rule.open_opportunity
        self.recent_intent = rule.recent_intent
        self.engaged = rule.engaged
        self.min_points_m = round(rule.min_points * 1000)
        self.min_contacts = rule.min_contacts
        self.touched = rule.touched
        self.reads_window = rule.reads_window


class _Journey:
    """A rule set's journey table, built once (cache.py's ByIdentity says why)."""

    __slots__ = ("funnel", "steps", "term_days", "touch_days", "window_days")

    def __init__(self, rules: Rules) -> None:
        self.steps = [_Step(rule) for rule in rules.journey]
        self.window_days: int = rules.journey_window_days
        self.touch_days: int = rules.journey_touch_days
        self.term_days: int = rules.revenue.renewal_term_days
        self.funnel: tuple[str, ...] = (UNAWARE, *[s.stage for s in reversed(self.steps)])


_BUILT: ByIdentity[Rules, _Journey] = ByIdentity(_Journey)


def funnel(rules: Rules) -> tuple[str, ...]:
    """The stages bottom first: unaware, then the rules' stages from the last rule up."""
    return _BUILT.get(rules).funnel


def stage_counts(stages: Iterable[str], rules: Rules) -> dict[str, int]:
    """Accounts per stage, bottom of the funnel first (every stage, zeros included)."""
    counts = dict.fromkeys(funnel(rules), 0)
    for stage in stages:
        counts[stage] = counts.get(stage, 0) + 1
    return counts


def _open_opportunities(state: AccountState) -> int:
    return sum(1 for o in state.opportunities.values() if o.closed_at is None)


def _contacts(state: AccountState, window_days: int, today: int) -> int:
    """Distinct engaged contacts in the journey window: counted only when a rule asks,
    after its cheaper conditions held (the tier window's count is kept, this one is not)."""
    seen: set[str] = set()
    for day in range(today - window_days + 1, today + 1):
        bucket = state.engagement.get(day)
        if bucket is not None:
            seen.update(bucket.contacts)
    return len(seen)


def _matches(
    step: _Step, state: AccountState, journey: _Journey, signals: Signals, windows: Aggregates
) -> bool:
    """Cheapest conditions first: most accounts are decided without counting contacts."""
    if step.won_deal and (
        not state.opportunities or not is_customer(state, journey.term_days, windows.today)
    ):
        return False
    if step.open_opportunity and (not state.opportunities or not _open_opportunities(state)):
        return False
    if step.recent_intent and not signals.recent_intent:
        return False
    if step.engaged and windows.journey_m <= 0:
        return False
    if step.min_points_m > 0 and windows.journey_m < step.min_points_m:
        return False
    if step.touched:
        touched = state.touched
        if touched is None or windows.today - touched >= journey.touch_days:
            return False
    if step.min_contacts <= 0:
        return True
    return _contacts(state, journey.window_days, windows.today) >= step.min_contacts


def _due(step: _Step, state: AccountState, journey: _Journey, windows: Aggregates) -> int | None:
    """When the matched rule's evidence may run out (recent intent: the tiers' timer; a
    customer's renewal date)."""
    due = None
    if step.won_deal:
        customer = customer_of(state, journey.term_days)
        if customer is not None and customer.lost_on is None:
            due = customer.renewal_day * DAY_MS
    if step.reads_window and windows.journey_first is not None:
        due = sooner(due, (windows.journey_first + journey.window_days) * DAY_MS)
    if step.touched and state.touched is not None:
        due = sooner(due, (state.touched + journey.touch_days) * DAY_MS)
    return due


def stage_of(
    state: AccountState, rules: Rules, signals: Signals, windows: Aggregates
) -> tuple[str, int | None]:
    """The account's stage now, and when to look again."""
    journey = _BUILT.get(rules)
    for step in journey.steps:
        if _matches(step, state, journey, signals, windows):
            return step.stage, _due(step, state, journey, windows)
    return UNAWARE, None


def _inputs(
    state: AccountState, rules: Rules, signals: Signals, windows: Aggregates | None
) -> StageInputs:
    today = windows.today if windows is not None else 0
    # Built from the state, not parsed: model_construct skips re-validating what the
    # engine itself computed (a validated build cost ~7% of a replay's time).
    return StageInputs.model_construct(
        won_deal=is_customer(state, rules.revenue.renewal_term_days, today),
        open_opportunities=_open_opportunities(state),
        recent_intent=signals.recent_intent,
        engagement_points=windows.journey_m / 1000 if windows is not None else 0.0,
        engaged_contacts=_contacts(state, rules.journey_window_days, today)
        if windows is not None
        else 0,
        last_touch=None if state.touched is None else from_ms(state.touched * DAY_MS).date(),
        window_days=rules.journey_window_days,
        touch_days=rules.journey_touch_days,
    )


def stage_change(
    state: AccountState,
    rules: Rules,
    stage: str,
    rule: str,
    now: int,
    signals: Signals,
    windows: Aggregates | None,
    always: bool = False,
) -> StageChange | None:
    """Move the account to `stage` (recording the funnel steps it reached) and describe
    the move; None when it is there already (unless `always`: a removal says so)."""
    if stage == state.stage and not always:
        return None
    previous, state.stage = state.stage, stage
    state.stage_version += 1
    steps = funnel(rules)
    if stage in steps:
        for step in steps[1 : steps.index(stage) + 1]:
            if step not in state.reached:
                state.reached[step] = now
    name, owner = state.name_and_owner()
    return StageChange.model_construct(
        account_id=state.account_id,
        account_name=name,
        owner=owner,
        previous_stage=previous,
        stage=stage,
        rule=rule,
        inputs=_inputs(state, rules, signals, windows),
        changed_at=from_ms(now),
        version=state.stage_version,
    )
