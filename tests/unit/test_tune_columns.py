"""The vectorised tier table decides what `tiering.decide` decides, row by row, for any
rule table and any measurements (thresholds drawn from the values measured, so equality
at a threshold is exercised)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.signals.tiering import decide
from streams.tune.columns import UNTIERED, Columns, decide_all
from tests.tune_tools import measured, rule_sets, signals_of


@settings(max_examples=300, deadline=None)
@given(st.lists(measured, min_size=1, max_size=40), rule_sets)
def test_every_row_gets_the_scalar_decision(rows, rules):
    tiers, chosen = decide_all(Columns.of(rows, rules), rules)
    for row, tier, index in zip(rows, tiers, chosen, strict=True):
        want_tier, want_rule = decide(signals_of(row, rules), rules)
        assert tier == want_tier
        assert (rules.tiers[index].name if index != UNTIERED else "untiered") == want_rule
