"""The search keeps the best candidate that meets the constraints: with the budget to try
every point of a small space, the best of all of them; and the same for the same seed."""

from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.rules import Rules
from streams.tune.score import figures, label
from streams.tune.search import (
    Constraints,
    Dimension,
    dimensions,
    prior_days,
    score,
    search,
)
from tests.tune_tools import histories

RULES = Rules()


def small_space(rules: Rules) -> list[Dimension]:
    """Three dimensions of three options each (27 points)."""
    return [
        Dimension(d.name, d.options[:3], d.apply)
        for d in dimensions(rules)
        if d.name in ("intent_min_score", "tiers.just-right.min_fit", "tiers.just-right.min_acv")
    ]


@settings(max_examples=40, deadline=None)
@given(histories(), st.none() | st.integers(0, 3), st.integers(0, 5))
def test_with_budget_for_every_point_the_best_is_found(history, max_tier1, seed):
    runs, created = history
    labelled = label(runs, created, RULES, 30)
    constraints = Constraints(max_tier1=max_tier1)
    dims = small_space(RULES)
    found = search(labelled, RULES, None, 27, constraints, seed=seed, dims=dims)
    every = []
    for point in product(*(range(len(d.options)) for d in dims)):
        rules = RULES
        for dim, option in zip(dims, point, strict=True):
            rules = dim.apply(rules, dim.options[option])
        f = figures(labelled, rules)
        if constraints.met(f):
            every.append(score(f, prior_days(labelled, None)))
    if not every:
        assert found is None
        return
    assert found is not None
    assert found.best == max(every)
    assert score(found.figures, prior_days(labelled, None)) <= found.best
    assert constraints.met(found.figures)
    assert found.figures == figures(labelled, found.rules)
    assert found.tried >= 27


@settings(max_examples=20, deadline=None)
@given(histories(), st.integers(0, 5))
def test_the_search_never_does_worse_than_the_current_rules_and_repeats(history, seed):
    runs, created = history
    labelled = label(runs, created, RULES, 30)
    found = search(labelled, RULES, None, 60, seed=seed)
    assert found is not None
    prior = prior_days(labelled, None)
    assert score(found.figures, prior) >= score(figures(labelled, RULES), prior)
    assert found.tried <= 60 + len(dimensions(RULES)), "the budget, and undoing each change"
    again = search(labelled, RULES, None, 60, seed=seed)
    assert again is not None
    assert again.rules == found.rules
    assert bool(found.without) == (found.rules != RULES)


def test_every_dimension_starts_at_the_current_value():
    for dim in dimensions(RULES):
        assert dim.apply(RULES, dim.options[0]) == RULES, dim.name
        assert len(set(map(repr, dim.options))) == len(dim.options), dim.name
