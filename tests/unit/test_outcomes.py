"""What followed an alert: the response, the opportunity, the horizon, and the holdout.

The property test compares the state machine with a plain model that reads the outcome
off the list of events; the holdout's share is checked against binomial bounds.
"""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import from_ms
from streams.logic.inputs.apply import apply_tick
from streams.logic.kpis.kpis import contribution
from streams.logic.kpis.lift import MIN_GROUP, lift
from streams.logic.rules import Rules
from streams.logic.signals.alerts import standing
from streams.logic.signals.outcomes import held_out
from tests.factories import DAY, T0, activity, deal, engagement, intent, profile, replay

RULES = Rules()
HOUR = 3_600_000
HORIZON = T0 + 30 * DAY
STAGES = ["prospecting", "qualification", "proposal", "closed_won", "closed_lost"]


def surged(rules=RULES, owner="ana"):
    """An account whose intent surge raised one alert at T0."""
    state, _, alerts = replay([profile(owner=owner), intent(at=T0, score=80)], rules=rules)
    assert [a.kind for a in alerts] == ["intent"]
    return state, alerts[0]


def close(state, rules=RULES):
    """Let time pass until nothing is due; every outcome published on the way."""
    outcomes = []
    while state.due_at is not None:
        outcomes += apply_tick(state, rules, state.due_at).outcomes
    return outcomes


follow_ups = st.lists(
    st.tuples(
        st.sampled_from(["activity", "deal"]),
        st.integers(-2 * 24 * 60, 40 * 24 * 60),  # minutes from the alert
        st.sampled_from(["ana", "bo"]),
        st.sampled_from(["o1", "o2", "o3"]),
        st.sampled_from(STAGES),
        st.integers(0, 200_000),
    ),
    max_size=25,
)


def model(events):
    """The outcome read off time-ordered (kind, at, rep, opp, stage, amount) rows."""
    inside = [e for e in events if T0 < e[1] < HORIZON]
    acts = [e for e in inside if e[0] == "activity"]
    first_seen = {}
    for e in events:
        if e[0] == "deal":
            first_seen.setdefault(e[3], e[1])
    created = [(at, opp) for opp, at in first_seen.items() if T0 < at < HORIZON]
    opp = None
    if created:
        opp_id = min(created)[1]  # rows are time-ordered: the first created
        last = [e for e in inside if e[0] == "deal" and e[3] == opp_id][-1]
        won = {"closed_won": True, "closed_lost": False}.get(last[4])
        opp = (opp_id, first_seen[opp_id], float(last[5]), won)
    return (acts[0][1], acts[0][2]) if acts else None, opp


@settings(max_examples=150, deadline=None)
@given(follow_ups)
def test_an_outcome_is_what_the_events_after_the_alert_say(rows):
    events = sorted(
        (
            (kind, T0 + minutes * 60_000, rep, opp, stage, amount)
            for kind, minutes, rep, opp, stage, amount in rows
        ),
        key=lambda e: e[1],
    )
    state, alert = surged()
    for kind, at, rep, opp, stage, amount in events:
        event = (
            activity(at=at, rep=rep)
            if kind == "activity"
            else deal(at=at, opp=opp, stage=stage, amount=amount)
        )
        state, _, _ = replay([event], state=state, ticks=True)
    [outcome] = [o for o in close(state) if o.alert_id == alert.alert_id] or [None]
    published_early = [w for w in state.watches if w.closed]
    assert outcome is not None or published_early, "the horizon passed: an outcome is due"
    response, opp = model(events)
    watched = state.watches[0]
    got_response = None if watched.response is None else tuple(watched.response[:2])
    assert got_response == response
    assert (None if watched.opportunity is None else tuple(watched.opportunity[:4])) == opp
    if outcome is not None:
        assert outcome.responded_by == (None if response is None else response[1])
        assert outcome.first_response_at == (None if response is None else from_ms(response[0]))
        assert outcome.responded_by_owner == (None if response is None else response[1] == "ana")
        waited = None if response is None else (response[0] - T0) / 60_000
        assert outcome.response_minutes == waited
        assert outcome.sla_met == (waited is not None and waited <= 240)
        assert outcome.opportunity_id == (None if opp is None else opp[0])


def test_the_outcome_waits_for_the_horizon_and_is_published_once():
    state, alert = surged()
    state, _, _ = replay(
        [activity(at=T0 + 90 * 60_000, rep="ana"), deal(at=T0 + 3 * DAY, amount=50_000)],
        state=state,
    )
    assert not close_before(state, HORIZON)
    [outcome] = close(state)
    assert (outcome.alert_id, outcome.response_minutes, outcome.sla_met) == (
        alert.alert_id,
        90,
        True,
    )
    assert (outcome.opportunity_id, outcome.opportunity_amount, outcome.opportunity_won) == (
        "o1",
        50_000,
        None,
    )
    assert outcome.horizon_at == from_ms(HORIZON)
    assert not close(state), "published once"
    # What comes after the horizon changes nothing.
    state, _, _ = replay([deal(at=HORIZON + DAY, stage="closed_won", amount=70_000)], state=state)
    assert state.watches[0].opportunity[2:4] == [50_000, None]


def close_before(state, until):
    """Ticks before `until` publish nothing."""
    return apply_tick(state, RULES, until - 1).outcomes


def test_an_event_that_moves_the_clock_past_the_horizon_publishes_the_outcome():
    state, _ = surged()
    state, _, _ = replay([activity(at=HORIZON + HOUR)], state=state)
    effect = apply_tick(state, RULES, HORIZON + HOUR)
    assert [w.closed for w in state.watches] == [True]
    assert not effect.outcomes, "published by the event, not again by a tick"


def alert_counters(state):
    return {k: v for k, v in contribution(state, RULES).items() if "|alerts_" in k}


def test_counters_are_the_same_before_and_after_the_horizon():
    state, _ = surged()
    state, _, _ = replay(
        [activity(at=T0 + 5 * HOUR, rep="bo"), deal(at=T0 + DAY, amount=10_000)], state=state
    )
    before = alert_counters(state)
    assert close(state)
    assert alert_counters(state) == before
    tier = state.watches[0].tier
    assert before[f"{tier}|alerts_responded_delivered"] == 1
    assert f"{tier}|alerts_sla_delivered" not in before  # 5 hours > the 240-minute SLA
    assert before[f"{tier}|alerts_response_s_delivered|{5 * 3600}"] == 1
    assert before["~|alerts_opportunity_delivered|ana"] == 1


def test_a_reissue_names_the_owner_of_its_episode_and_is_not_a_new_alert():
    state, _, alerts = replay([intent(at=T0, score=80), profile(owner="ana")])
    assert [a.reissue_of is not None for a in alerts] == [False, True]
    [watched] = state.watches
    assert (watched.alert_id, watched.owner) == (alerts[0].alert_id, "ana")
    assert alerts[1].holdout == alerts[0].holdout


def test_the_limit_keeps_the_newest_alerts():
    rules = Rules(limits={"alert_outcomes": 1}, surge={"cooldown_days": 0})
    state, first = surged(rules)
    close(state, rules)
    later = state.clock + DAY  # ticks moved the account's clock on
    state, _, alerts = replay([intent(at=later, score=80)], state=state, rules=rules)
    assert [w.alert_id for w in state.watches] == [alerts[0].alert_id] != [first.alert_id]
    # With none closed, the oldest open one leaves.
    again = intent(at=later + 10 * DAY, score=80)
    state, _, alerts = replay([again], state=state, rules=rules, ticks=True)
    assert [w.alert_id for w in state.watches] == [alerts[0].alert_id]
    assert not state.watches[0].closed


def test_the_holdout_share_is_within_binomial_bounds_and_stable():
    n, share = 20_000, 0.2
    outcomes = Rules(outcomes={"holdout": share}).outcomes
    accounts = [f"acct-{i}" for i in range(n)]
    held = [held_out(a, T0, outcomes) for a in accounts]
    sigma = math.sqrt(n * share * (1 - share))
    assert abs(sum(held) - n * share) < 5 * sigma
    assert held == [held_out(a, T0 + DAY, outcomes) for a in accounts], "the same period"
    other = Rules(outcomes={"holdout": share, "holdout_key": "another"}).outcomes
    assert held != [held_out(a, T0, other) for a in accounts], "another key draws another"
    assert not any(held_out(a, T0, RULES.outcomes) for a in accounts), "none by default"


def test_each_period_draws_the_accounts_anew():
    outcomes = Rules(outcomes={"holdout": 0.5, "holdout_days": 30}).outcomes
    accounts = [f"acct-{i}" for i in range(2_000)]
    first = (T0 // (30 * DAY)) * 30 * DAY
    periods = [[held_out(a, first + p * 30 * DAY, outcomes) for a in accounts] for p in (0, 1)]
    assert periods[0] == [held_out(a, first + 30 * DAY - 1, outcomes) for a in accounts]
    both = sum(a and b for a, b in zip(*periods, strict=True))
    # Independent draws: about a quarter held out in both periods, not a half.
    assert abs(both - 500) < 5 * math.sqrt(2_000 * 0.25 * 0.75)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.05, 0.5), st.integers(0, 2**32))
def test_a_larger_holdout_keeps_everyone_a_smaller_one_held(share, salt):
    """Raising the share only adds accounts to the holdout (a threshold on one hash)."""
    accounts = [f"acct-{salt + i}" for i in range(300)]
    small = Rules(outcomes={"holdout": share / 2}).outcomes
    large = Rules(outcomes={"holdout": share}).outcomes
    assert all(held_out(a, T0, large) for a in accounts if held_out(a, T0, small))


def test_every_surge_of_a_held_out_account_is_held_out():
    """A seller's call answers every open alert of an account: an account's surges are
    held out together, so a delivered alert's answer never counts for a held-out one."""
    rules = Rules(outcomes={"holdout": 0.5})
    for n in range(30):
        account = f"a{n}"
        events = [
            profile(account=account, owner="ana"),
            intent(account=account, at=T0, score=80),
            engagement(account=account, at=T0 + HOUR, action="meeting", contact="c1"),
            engagement(account=account, at=T0 + 2 * HOUR, action="form_submit", contact="c2"),
        ]
        _, _, alerts = replay(events, rules=rules)
        assert len(alerts) == 2
        assert len({a.holdout for a in alerts}) == 1
        assert alerts[0].holdout == held_out(account, T0, rules.outcomes)


def test_a_held_out_surge_is_shown_to_no_seller():
    rules = Rules(outcomes={"holdout": 0.5})
    for n in range(40):
        state, _, alerts = replay(
            [profile(account=f"a{n}", owner="ana"), intent(account=f"a{n}", at=T0, score=80)],
            rules=rules,
        )
        [alert] = alerts
        assert bool(standing(state, rules).kinds) != alert.holdout
        assert state.watches[0].holdout == alert.holdout


def test_lift_by_katz_log_method():
    measured = lift(30, 100, 10, 100)
    assert measured.value == 3.0
    spread = 1.959963984540054 * math.sqrt(1 / 30 - 1 / 100 + 1 / 10 - 1 / 100)
    assert math.isclose(measured.low, 3 * math.exp(-spread))
    assert math.isclose(measured.high, 3 * math.exp(spread))
    assert measured.note == "measured"


@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 500), st.integers(0, 500))
def test_lift_is_a_number_only_with_enough_data(a, n1, c, n2):
    a, c = min(a, n1), min(c, n2)
    measured = lift(a, n1, c, n2)
    enough = n1 >= MIN_GROUP and n2 >= MIN_GROUP and a > 0 and c > 0
    assert (measured.value is not None) == enough
    if enough:
        assert measured.low <= measured.value <= measured.high
        assert math.isclose(measured.value, (a / n1) / (c / n2))
    else:
        assert (measured.low, measured.high) == (None, None)
        assert measured.note.startswith(("not enough data", "no holdout"))


def test_an_opportunity_that_existed_before_the_alert_is_not_its_outcome_in_any_order():
    before = deal(at=T0 - 2 * DAY, stage="prospecting")
    after = deal(at=T0 + 5 * DAY, stage="proposal")
    for order in ([before, after], [after, before]):
        state, _ = surged()
        state, _, _ = replay(order, state=state)
        assert state.watches[0].opportunity is None, order
    state, _ = surged()
    state, _, _ = replay([after], state=state)
    assert state.watches[0].opportunity[:2] == ["o1", T0 + 5 * DAY]


def test_a_sales_activity_is_not_the_accounts_engagement():
    state, _ = surged()
    tier, touched = state.tier, state.touched
    state, changes, alerts = replay(
        [activity(at=T0 + HOUR, kind=kind) for kind in ("call", "email", "meeting", "social")],
        state=state,
    )
    assert (state.engagement, state.touched, state.tier) == ({}, touched, tier)
    assert (changes, alerts) == ([], [])
    assert state.clocks["a"] == T0 + HOUR
