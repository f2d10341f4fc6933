"""The vectorised tier table decides what `tiering.decide` decides, row by row, for any
rule table and any measurements (thresholds drawn from the values measured, so equality
at a threshold is exercised)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.signals.tiering import decide
from streams.tune.columns import UNTIERED, Columns, Memo, decide_all
from tests.tune_tools import measured, rule_sets, signals_of


@settings(max_examples=300, deadline=None)
@given(st.lists(measured, min_size=1, max_size=40), rule_sets)
def test_every_row_gets_the_scalar_decision(rows, rules):
    tiers, chosen = decide_all(Columns.of(rows, rules), rules)
    for row, tier, index in zip(rows, tiers, chosen, strict=True):
        want_tier, want_rule = decide(signals_of(row, rules), rules)
        assert tier == want_tier
        assert (rules.tiers[index].name if index != UNTIERED else "untiered") == want_rule


@settings(max_examples=100, deadline=None)
@given(st.lists(measured, min_size=1, max_size=40), st.lists(rule_sets, min_size=2, max_size=6))
def test_masks_kept_across_rule_sets_decide_as_fresh_ones(rows, tables):
    """One memo over a sequence of rule tables (as a search uses it), with the catalogue
    of the first: each decides what it decides with nothing kept."""
    columns, memo = Columns.of(rows, tables[0]), Memo()
    for rules in tables:
        rules = rules.model_copy(update={"intent": tables[0].intent})
        kept, fresh = decide_all(columns, rules, memo), decide_all(columns, rules)
        assert (kept[0] == fresh[0]).all()
        assert (kept[1] == fresh[1]).all()
