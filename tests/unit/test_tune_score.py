"""A candidate's figures over runs equal the day-by-day count with the scalar decision:
each account-day's tier, whether an opportunity followed it within the horizon, and the
most accounts in a tier on one day."""

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.signals.tiering import decide
from streams.logic.state.windows import DAY_MS
from streams.tune.score import cut, figures, label, lift_of
from tests.tune_tools import DAY0, histories, rule_sets, signals_of


@settings(max_examples=200, deadline=None)
@given(histories(), rule_sets, st.integers(1, 20))
def test_figures_are_the_day_by_day_count(history, rules, horizon):
    runs, created = history
    got = figures(label(runs, created, rules, horizon), rules)
    tier_days, hits, per_day = Counter(), Counter(), Counter()
    for run in runs:
        tier, _ = decide(signals_of(run.measured, rules), rules)
        for day in range(run.first_day, run.first_day + run.days):
            start, end = (day + 1) * DAY_MS, (day + 1 + horizon) * DAY_MS
            followed = any(start <= at < end for at in created[run.account])
            tier_days[tier] += 1
            hits[tier == 1] += followed
            per_day[tier, day] += 1
    assert got.tier_days == tuple(tier_days[t] for t in range(4))
    assert (got.tier1_hits, got.rest_hits) == (hits[True], hits[False])
    peaks = tuple(
        max((n for (t, _), n in per_day.items() if t == tier), default=0) for tier in range(4)
    )
    assert got.peak_accounts == peaks


@settings(max_examples=100, deadline=None)
@given(histories(), rule_sets, st.integers(DAY0, DAY0 + 30))
def test_a_split_period_adds_up_to_the_whole(history, rules, split):
    runs, created = history
    whole = figures(label(runs, created, rules, 10), rules)
    labelled = label(cut(runs, split), created, rules, 10)
    before = figures(labelled, rules, (0, split))
    after = figures(labelled, rules, (split, 10**9))
    assert [a + b for a, b in zip(before.tier_days, after.tier_days, strict=True)] == list(
        whole.tier_days
    )
    assert before.tier1_hits + after.tier1_hits == whole.tier1_hits
    assert before.rest_hits + after.rest_hits == whole.rest_hits
    assert all(
        run.first_day >= split or run.first_day + run.days <= split for run in cut(runs, split)
    )


@settings(max_examples=60, deadline=None)
@given(histories(), rule_sets)
def test_the_lift_is_tier_1s_rate_over_the_rests(history, rules):
    runs, created = history
    labelled = label(runs, created, rules, 10)
    got, counted = lift_of(labelled, rules), figures(labelled, rules)
    rate1, rate0 = counted.opportunity_rate_tier1, counted.opportunity_rate_rest
    if rate1 is None or not rate0:
        assert got.value is None
    else:
        assert math.isclose(got.value, rate1 / rate0)
        assert got.low is None or got.low <= got.high
