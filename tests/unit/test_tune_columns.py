"""The vectorised tier table decides what `tiering.decide` decides, row by row, for any
rule table and any measurements (thresholds drawn from the values measured, so equality
at a threshold is exercised)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.rules import Rules
from streams.logic.signals.tiering import decide
from streams.tune.columns import UNTIERED, Columns, Measured, decide_all
from tests.tune_tools import signals_of

VALUES = [0.0, 10.0, 30.0, 50.0, 60.0, 70.0, 85.0, 100.0]
TOPICS = ["crm", "cdp", "erp", "payroll", "other"]
CLUSTERS = {"sales": ["crm", "cdp"], "ops": ["erp"]}
PERSONAS = ["decision_maker", "champion", "influencer", "user", "unknown"]

values = st.sampled_from(VALUES)
measured = st.builds(
    Measured,
    fit=st.none() | values,
    acv=st.sampled_from([0.0, 20_000.0, 50_000.0, 100_000.0]),
    topic_scores=st.dictionaries(st.sampled_from(TOPICS), values, max_size=4),
    engagement_points=values,
    engaged_contacts=st.integers(0, 4),
    personas=st.dictionaries(st.sampled_from(PERSONAS), st.integers(1, 3), max_size=4),
)
tier_rules = st.fixed_dictionaries(
    {
        "tier": st.integers(1, 3),
        "name": st.sampled_from(["a", "b", "c", "d"]),
        "min_fit": values,
        "min_acv": st.sampled_from([0.0, 20_000.0, 50_000.0]),
        "signals": st.lists(st.sampled_from(["intent", "engagement"]), max_size=2, unique=True),
        "match": st.sampled_from(["all", "any"]),
        "intent_clusters": st.lists(st.sampled_from([*CLUSTERS, "other"]), unique=True, max_size=2),
        "require_personas": st.lists(st.sampled_from(PERSONAS[:4]), unique=True, max_size=2),
        "min_personas": st.integers(0, 3),
    }
)
rule_sets = st.builds(
    lambda tiers, intent, points, contacts: Rules(
        tiers=tiers,
        intent={"clusters": CLUSTERS | {"other": ["other"]}},
        intent_min_score=intent,
        engagement_min_points=points,
        engagement_min_contacts=contacts,
    ),
    st.lists(tier_rules, min_size=1, max_size=4),
    values,
    st.sampled_from([5.0, 10.0, 30.0]),
    st.integers(1, 3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(measured, min_size=1, max_size=40), rule_sets)
def test_every_row_gets_the_scalar_decision(rows, rules):
    tiers, chosen = decide_all(Columns.of(rows, rules), rules)
    for row, tier, index in zip(rows, tiers, chosen, strict=True):
        want_tier, want_rule = decide(signals_of(row, rules), rules)
        assert tier == want_tier
        assert (rules.tiers[index].name if index != UNTIERED else "untiered") == want_rule
