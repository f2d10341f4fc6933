"""Journey stages: the stage the rules give equals one recomputed from the raw events, at
any later time (so the staleness timer moves accounts down when it should), whatever the
arrival order; the funnel steps reached only grow; churn ends a customer."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.common import to_ms
from streams.logic.inputs.apply import apply_tick
from streams.logic.rules import Rules
from streams.logic.signals.journey import funnel
from streams.logic.state.customers import is_customer
from streams.logic.state.windows import day_of
from tests.factories import DAY, T0, deal, engagement, intent, profile, replay

RULES = Rules()
EASY_MQA = Rules(
    journey=[
        {"stage": "customer", "won_deal": True},
        {"stage": "opportunity", "open_opportunity": True},
        {"stage": "mqa", "min_points": 2, "min_contacts": 2, "recent_intent": True},
        {"stage": "engaged", "engaged": True},
        {"stage": "aware", "touched": True},
    ]
)
"""The default rules with an MQA bar random histories often clear, so its contact count
(the one figure counted on demand) is exercised at the window's edges."""
ACTIONS = ["page_view", "email_click", "meeting", "ad_impression", "form_submit"]
STAGE_ORDER = {stage: i for i, stage in enumerate(RULES.stages)}


@st.composite
def histories(draw):
    """Engagement, intent and deals over ~100 days, some out of order."""
    events = [profile()]
    for i in range(draw(st.integers(1, 40))):
        at = T0 + draw(st.integers(0, 100 * DAY))
        kind = draw(st.sampled_from(["e", "e", "e", "i", "d"]))
        if kind == "e":
            contact = draw(st.sampled_from(["c1", "c2", "c3", "c4", None]))
            action = draw(st.sampled_from(ACTIONS))
            events.append(engagement(at=at, action=action, contact=contact, event_id=f"x{i}"))
        elif kind == "i":
            score = draw(st.sampled_from([20.0, 59.0, 60.0, 90.0]))
            events.append(intent(at=at, score=score, event_id=f"x{i}"))
        else:
            events.append(
                deal(
                    at=at,
                    opp=draw(st.sampled_from(["o1", "o2"])),
                    stage=draw(st.sampled_from(RULES.stages)),
                    deal_type=draw(st.sampled_from(["new", "renewal"])),
                    event_id=f"x{i}",
                )
            )
    return events


def _ms(e) -> int:
    return to_ms(e.occurred_at)


def accepted(events):
    """The events an account applies: each kind's late ones (beyond the retention behind
    that kind's newest) dropped as they arrive; deal stages are never late."""
    newest: dict[str, int] = {}
    kept = []
    for e in events[1:]:
        kind, at = type(e).__name__, _ms(e)
        if (
            kind != "DealEvent"
            and kind in newest
            and at < newest[kind] - RULES.retention_days * DAY
        ):
            continue
        newest[kind] = max(newest.get(kind, at), at)
        kept.append(e)
    return kept


def customer_and_open(deals):
    """From each opportunity's stage events: is the account a customer, and how many are open."""
    by_opp: dict[str, list] = {}
    for d in deals:
        by_opp.setdefault(d.opportunity_id, []).append(d)
    won = churned = None
    open_count = 0
    for history in by_opp.values():
        history.sort(key=lambda d: (_ms(d), STAGE_ORDER[d.stage]))
        final = history[-1]
        if final.stage not in ("closed_won", "closed_lost"):
            open_count += 1
            continue
        closed = _ms(final)
        for d in reversed(history):
            if d.stage != final.stage:
                break
            closed = _ms(d)
        if final.stage == "closed_won":
            won = closed if won is None else max(won, closed)
        elif final.deal_type == "renewal":
            churned = closed if churned is None else max(churned, closed)
    return won is not None and (churned is None or churned < won), open_count


def oracle(events, now, rules=RULES):
    """The stage at `now` by the default journey rules (or `rules`' MQA bar), from the
    events alone."""
    mqa = next(rule for rule in rules.journey if rule.stage == "mqa")
    kept, today = accepted(events), day_of(now)
    engagement_events = [e for e in kept if hasattr(e, "action") and _ms(e) <= now]
    intents = [e for e in kept if hasattr(e, "score") and _ms(e) <= now]
    customer, open_count = customer_and_open([e for e in kept if hasattr(e, "opportunity_id")])
    window = [e for e in engagement_events if today - day_of(_ms(e)) < RULES.journey_window_days]
    points = sum(RULES.weights[e.action] for e in window)
    contacts = {e.contact_id for e in window if e.contact_id and RULES.weights[e.action] > 0}
    recent_intent = any(
        today - day_of(_ms(e)) < RULES.intent_window_days and e.score >= RULES.intent_min_score
        for e in intents
    )
    touched = [day_of(_ms(e)) for e in engagement_events + intents]
    if customer:
        return "customer"
    if open_count:
        return "opportunity"
    if points >= mqa.min_points and len(contacts) >= mqa.min_contacts and recent_intent:
        return "mqa"
    if points > 0:
        return "engaged"
    if touched and today - max(touched) < RULES.journey_touch_days:
        return "aware"
    return "unaware"


def tick_until(state, now, rules=RULES):
    while state.due_at is not None and state.due_at <= now:
        due = state.due_at
        apply_tick(state, rules, due)
        if state.due_at == due:
            break


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(0, 120 * DAY), st.sampled_from([RULES, EASY_MQA]))
def test_the_stage_equals_the_oracle_at_any_later_time(events, later, rules):
    """Events in time order (nothing late): the stage after the timer has run to `now`."""
    ordered = [events[0], *sorted(events[1:], key=_ms)]
    state, _, _ = replay(ordered, rules=rules)
    now = state.clock + later
    tick_until(state, now, rules)
    assert state.stage == oracle(ordered, now, rules)


@settings(max_examples=200, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_the_stage_after_any_arrival_order_equals_the_oracle(events, rnd):
    shuffled = [events[0], *rnd.sample(events[1:], len(events) - 1)]
    state, _, _ = replay(shuffled)
    assert state.stage == oracle(shuffled, state.clock)


@settings(max_examples=200, deadline=None)
@given(histories(), st.integers(0, 200 * DAY))
def test_reached_steps_are_the_funnel_up_to_the_highest_stage_stood_at(events, later):
    ordered = [events[0], *sorted(events[1:], key=_ms)]
    state, _, _ = replay(ordered)
    tick_until(state, state.clock + later)
    steps = funnel(RULES)
    highest = max((steps.index(s) for s in state.reached), default=0)
    assert set(state.reached) == set(steps[1 : highest + 1])
    times = [state.reached[s] for s in steps[1 : highest + 1]]
    assert times == sorted(times)  # a step above is never reached before one below
    assert steps.index(state.stage) <= highest


def test_time_alone_never_raises_a_stage():
    state, _, _ = replay([profile(), engagement(at=T0, action="meeting", contact="c1")])
    assert state.stage == "engaged"
    seen = [state.stage]
    while state.due_at is not None:
        seen.append(apply_tick(state, RULES, state.due_at).state.stage)
    steps = funnel(RULES)
    assert [steps.index(s) for s in seen] == sorted((steps.index(s) for s in seen), reverse=True)
    assert seen[-1] == "unaware"


TERM = RULES.revenue.renewal_term_days


def test_a_lost_renewal_ends_a_customer_and_a_won_one_brings_it_back():
    won = deal(at=T0, opp="o1", stage="closed_won")
    state, _, _ = replay([profile(), won])
    assert (is_customer(state, TERM, day_of(T0)), state.stage) == (True, "customer")
    lost = deal(at=T0 + 100 * DAY, opp="r1", stage="closed_lost", deal_type="renewal")
    state, _, _ = replay([lost], state)
    assert not is_customer(state, TERM, day_of(T0 + 100 * DAY))
    assert state.stage != "customer"
    renewed = deal(at=T0 + 200 * DAY, opp="r2", stage="closed_won", deal_type="renewal")
    state, _, _ = replay([renewed], state)
    assert state.stage == "customer"


def test_a_customer_whose_renewal_date_passes_without_a_win_churns_on_the_timer():
    state, _, _ = replay([profile(), deal(at=T0, opp="o1", stage="closed_won")])
    assert state.stage == "customer"
    renewal = (day_of(T0) + TERM) * DAY
    while state.due_at is not None and state.due_at < renewal:
        apply_tick(state, RULES, state.due_at)
    assert state.stage == "customer"
    assert state.due_at == renewal
    assert apply_tick(state, RULES, renewal).stage_change.stage != "customer"
    assert not is_customer(state, TERM, day_of(renewal))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"journey_window_days": 40}, "must not exceed retention_days"),
        ({"journey": [{"stage": "aware"}, {"stage": "aware"}]}, "must not repeat"),
        ({"journey": [{"stage": "unaware"}]}, "must not repeat, nor be 'unaware'"),
        ({"journey": [{"stage": "Bad Stage"}]}, "pattern"),
    ],
)
def test_bad_journey_rules_are_refused_with_the_reason(changes, message):
    with pytest.raises(ValidationError, match=message):
        Rules(**changes)


def test_mqa_counts_contacts_inside_the_journey_window_only():
    """c1 on day 0 and c2 on day 29 make two contacts in the 30-day window; on day 30 c1
    has left it and the account falls back to engaged, by the timer alone."""
    events = [
        profile(),
        engagement(at=T0, action="meeting", contact="c1"),
        engagement(at=T0 + 29 * DAY, action="meeting", contact="c2"),
        intent(at=T0 + 29 * DAY, score=90.0),
    ]
    state, _, _ = replay(events, rules=EASY_MQA)
    assert state.stage == "mqa"
    first_day = day_of(T0)
    assert state.due_at == (first_day + 30) * DAY
    moved = apply_tick(state, EASY_MQA, state.due_at).stage_change
    assert moved is not None
    assert (moved.previous_stage, moved.stage) == ("mqa", "engaged")
    assert moved.inputs.engaged_contacts == 1
