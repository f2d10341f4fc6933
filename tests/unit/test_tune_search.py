"""The search keeps the best candidate that meets the constraints, drawn the same way
for the same seed, from values on the grids or the rules' own."""

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.rules import Rules
from streams.tune.score import figures, label
from streams.tune.search import GRIDS, Constraints, candidates, search
from tests.tune_tools import histories

RULES = Rules()


@settings(max_examples=40, deadline=None)
@given(histories(), st.none() | st.integers(0, 3), st.integers(0, 5))
def test_the_best_candidate_that_meets_the_constraints_is_kept(history, max_tier1, seed):
    runs, created = history
    labelled = label(runs, created, RULES, 30)
    constraints = Constraints(max_tier1=max_tier1)
    found = search(labelled, RULES, None, 25, constraints, seed)
    scored = [(c, figures(labelled, c)) for c in candidates(RULES, 25, seed)]
    allowed = [(c, f) for c, f in scored if constraints.met(f)]
    if not allowed:
        assert found is None
        return

    def lift(f):
        rate1, rate0 = f.opportunity_rate_tier1, f.opportunity_rate_rest
        return -1.0 if rate1 is None or not rate0 else rate1 / rate0

    best = max(lift(f) for _, f in allowed)
    first = next(c for c, f in allowed if lift(f) == best)
    assert found is not None
    assert found.rules == first
    assert lift(found.figures) == best


def test_candidates_are_the_rules_then_draws_from_the_grids():
    drawn = list(candidates(RULES, 50, seed=3))
    assert drawn[0] is RULES
    assert drawn == list(candidates(RULES, 50, seed=3))
    assert drawn != list(candidates(RULES, 50, seed=4))
    for c in drawn:
        assert c.intent_min_score in (*GRIDS["intent_min_score"], RULES.intent_min_score)
        for rule, was in zip(c.tiers, RULES.tiers, strict=True):
            assert rule.min_fit in (*GRIDS["min_fit"], was.min_fit)
            assert (rule.name, rule.signals) == (was.name, was.signals)
