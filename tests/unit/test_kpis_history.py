"""The KPI report and the alert outcomes from the pure logic equal a ground truth computed
from the rows alone.

The history is taken record by record through the dispatch the agents call
(`decode_record`, `take`), in the order it is sent and, as in a backfill of topics read
one after another, topic by topic. The end-to-end test does the same through the
real pipeline.
"""

import pytest

from streams.logic.rules import Rules
from tests.factories import WALL
from tests.history import DAY, alert_outcomes, generate, ground_truth
from tests.kpi_compare import assert_same_kpis, order_free, replay_rows

RULES = Rules()
HOLDOUT = Rules(outcomes={"holdout": 0.3, "response_sla_minutes": 60})
END = WALL - 30 * DAY


def checked(rows, rules):
    """The replay's report and outcomes against the ground truth; the replay's figures."""
    replayed = replay_rows(rows, rules, END)
    truth = ground_truth(rows, replayed.tiers, rules, replayed.journeys, replayed.alerts)
    assert_same_kpis(replayed.kpis, truth)
    want = {o["alert_id"]: o for o in alert_outcomes(rows, replayed.alerts, rules)}
    assert_same_kpis({o["alert_id"]: o for o in replayed.outcomes}, want)
    return replayed


@pytest.mark.parametrize("seed", [1, 2])
def test_replayed_history_matches_the_ground_truth(seed):
    rows = generate(seed, accounts=80, days=100, end=END)
    replayed = checked(rows, RULES)
    alerts = replayed.kpis["overall"]["alerts"]
    assert alerts["held_out"] == 0
    assert alerts["responded"] > alerts["responded_within_sla"] > 0
    assert alerts["raised"] > alerts["responded"]  # some never answered
    assert alerts["opportunities_delivered"] > alerts["won_delivered"] > 0
    assert "(no owner)" in replayed.kpis["owners"]
    assert any(a["reissue_of"] for a in replayed.alerts)
    assert {o["responded_by_owner"] for o in replayed.outcomes} == {True, False, None}


@pytest.mark.parametrize("seed", [1, 5])
def test_a_holdout_and_a_shorter_sla_match_the_ground_truth(seed):
    rows = generate(seed, accounts=80, days=100, end=END)
    replayed = checked(rows, HOLDOUT)
    alerts = replayed.kpis["overall"]["alerts"]
    assert alerts["delivered"] > alerts["held_out"] >= 10
    assert alerts["responded_held_out"] > 0
    default_sla = ground_truth(rows, replayed.tiers, RULES, replayed.journeys, replayed.alerts)
    assert default_sla["overall"]["alerts"]["sla_rate"] > alerts["sla_rate"]
    assert alerts["lift_note"] == "measured"


def test_renewal_dates_and_deal_types_as_configured_match_the_ground_truth():
    """A term shorter than the history, so customers also churn by their renewal date,
    and new-business deals counted as cross-sells."""
    rules = Rules(
        revenue={"renewal_term_days": 40, "max_lifetime_years": 3, "cross_sell_deal_types": ["new"]}
    )
    rows = generate(4, accounts=80, days=100, end=END)
    replayed = replay_rows(rows, rules, END)
    decided = (replayed.journeys, replayed.alerts)
    truth = ground_truth(rows, replayed.tiers, rules, *decided)
    assert_same_kpis(replayed.kpis, truth)
    lost_renewals_only = ground_truth(rows, replayed.tiers, RULES, *decided)["overall"]
    assert truth["overall"]["churned_customers"] > lost_renewals_only["churned_customers"] > 0
    assert truth["overall"]["cross_sells"] > truth["overall"]["upsells"] > 0


def test_topics_read_one_after_another_give_the_same_kpis():
    rows = generate(3, accounts=60, days=100, end=END)
    in_order = checked(rows, RULES)
    topics = ["accounts", "contacts", "deals", "spend", "intent", "sales_activities", "engagement"]
    skewed = replay_rows(sorted(rows, key=lambda r: topics.index(r[0])), RULES, END)
    assert_same_kpis(order_free(skewed.kpis), order_free(in_order.kpis))
