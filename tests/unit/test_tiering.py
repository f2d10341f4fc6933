"""Tiering rules: every rule, its boundaries, first-match order, fit from the ICP."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.inputs import AccountProfile
from streams.logic.rules import Icp, Rules, TierRule
from streams.logic.signals.fit import fit_score
from streams.logic.signals.tiering import Signals, decide

RULES = Rules()


def signals(fit=85.0, acv=60_000.0, intent=True, engagement=True):
    return Signals(
        fit=fit,
        acv=acv,
        intent_max=70.0 if intent else 0.0,
        intent_topics=("crm",) if intent else (),
        engagement_points=12.0,
        engaged_contacts=2,
        recent_intent=intent,
        recent_engagement=engagement,
        due_at=None,
    )


def spec_tier(fit, acv, intent, engagement):
    """The documented default tiers (docs/rules.md), written out independently of the rule table."""
    if fit is None or fit < 70:
        return 0
    if acv >= 50_000 and intent and engagement:
        return 1
    if intent or engagement:
        return 2
    return 3


@given(
    fit=st.one_of(st.none(), st.floats(0, 100)),
    acv=st.floats(0, 200_000),
    intent=st.booleans(),
    engagement=st.booleans(),
)
def test_default_rules_follow_the_design(fit, acv, intent, engagement):
    tier, rule = decide(signals(fit, acv, intent, engagement), RULES)
    assert tier == spec_tier(fit, acv, intent, engagement)
    assert rule == {0: "untiered", 1: "just-right", 2: "too-big", 3: "too-small"}[tier]


@pytest.mark.parametrize(
    ("fit", "acv", "intent", "engagement", "tier"),
    [
        (70.0, 50_000.0, True, True, 1),  # both thresholds are inclusive
        (69.999, 50_000.0, True, True, 0),
        (70.0, 49_999.99, True, True, 2),
        (70.0, 50_000.0, True, False, 2),
        (70.0, 50_000.0, False, True, 2),
        (70.0, 1e9, False, False, 3),
        (None, 1e9, True, True, 0),
    ],
)
def test_boundaries(fit, acv, intent, engagement, tier):
    assert decide(signals(fit, acv, intent, engagement), RULES)[0] == tier


def test_first_match_wins_even_when_a_later_rule_is_a_higher_tier():
    rules = Rules(
        tiers=[
            TierRule(tier=3, name="catch-all", min_fit=0),
            TierRule(tier=1, name="never", min_fit=0),
        ]
    )
    assert decide(signals(), rules) == (3, "catch-all")


def test_any_versus_all_signals():
    all_rule = Rules(tiers=[TierRule(tier=1, name="a", signals=["intent", "engagement"])])
    any_rule = Rules(
        tiers=[TierRule(tier=1, name="a", signals=["intent", "engagement"], match="any")]
    )
    only_intent = signals(intent=True, engagement=False)
    assert decide(only_intent, all_rule)[0] == 0
    assert decide(only_intent, any_rule)[0] == 1


def test_fit_score_wins_over_icp():
    profile = AccountProfile(account_id="a", name="A", fit_score=12.5, industry="software")
    assert fit_score(profile, Icp()) == 12.5


def test_fit_from_icp_sums_met_criteria():
    icp = Icp(required_tech=["salesforce"])
    full = AccountProfile(
        account_id="a",
        name="A",
        industry="Software",
        country="us",
        employees=500,
        annual_revenue=9e6,
        tech_stack=["Salesforce", "aws"],
    )
    assert fit_score(full, icp) == 100
    partial = full.model_copy(update={"country": "BR", "tech_stack": ["aws"]})
    assert fit_score(partial, icp) == 100 - icp.weight_country - icp.weight_tech
    unknown = AccountProfile(account_id="a", name="A")
    assert fit_score(unknown, icp) == 0
