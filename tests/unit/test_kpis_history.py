"""The KPI report from the pure logic equals a ground truth computed from the rows alone.

The history is taken record by record through the dispatch the agents call
(`decode_record`, `take`), in the order it is sent and, as in a backfill of topics read
one after another, topic by topic. The end-to-end test does the same through the
real pipeline.
"""

from collections import Counter

import orjson
import pytest

from streams.clients.produce_tail import owner_key
from streams.logic.inputs.decode import Coords, InputKind
from streams.logic.inputs.records import decode_record
from streams.logic.kpis.kpi_report import report
from streams.logic.kpis.kpis import contribution, spend_contribution
from streams.logic.rules import Rules
from streams.replay.engine import Item, Replay
from tests.factories import WALL
from tests.history import DAY, generate, ground_truth
from tests.kpi_compare import assert_same_kpis, order_free

RULES = Rules()
END = WALL - 30 * DAY


def run(rows, rules=RULES):
    engine = Replay(rules, WALL, ticks=False)
    for offset, (name, payload) in enumerate(rows):
        kind = InputKind(name)
        record = decode_record(kind, owner_key(payload), orjson.dumps(payload))
        engine.feed(Item(kind, Coords(kind, 0, offset, END), 0, record, owner=record.owner))
    accounts, campaigns, rosters = engine.accounts, engine.campaigns, engine.rosters
    total: Counter[str] = Counter()
    for account, state in accounts.items():
        total.update(contribution(state, rules, roster=rosters.get(account)))
    for state in campaigns.values():
        total.update(spend_contribution(state.account_id, state.spend))
    as_of = max(s.clock for s in [*accounts.values(), *campaigns.values()])
    journeys = {a: (s.stage, dict(s.reached)) for a, s in accounts.items()}
    return report(dict(total), as_of, rules), ({a: s.tier for a, s in accounts.items()}, journeys)


@pytest.mark.parametrize("seed", [1, 2])
def test_replayed_history_matches_the_ground_truth(seed):
    rows = generate(seed, accounts=80, days=100, end=END)
    kpis, (tiers, journeys) = run(rows)
    assert_same_kpis(kpis, ground_truth(rows, tiers, RULES, journeys))


def test_renewal_dates_and_deal_types_as_configured_match_the_ground_truth():
    """A term shorter than the history, so customers also churn by their renewal date,
    and new-business deals counted as cross-sells."""
    rules = Rules(
        revenue={"renewal_term_days": 40, "max_lifetime_years": 3, "cross_sell_deal_types": ["new"]}
    )
    rows = generate(4, accounts=80, days=100, end=END)
    kpis, (tiers, journeys) = run(rows, rules)
    truth = ground_truth(rows, tiers, rules, journeys)
    assert_same_kpis(kpis, truth)
    lost_renewals_only = ground_truth(rows, tiers, RULES, journeys)["overall"]
    assert truth["overall"]["churned_customers"] > lost_renewals_only["churned_customers"] > 0
    assert truth["overall"]["cross_sells"] > truth["overall"]["upsells"] > 0


def test_topics_read_one_after_another_give_the_same_kpis():
    rows = generate(3, accounts=60, days=100, end=END)
    in_order, (tiers, journeys) = run(rows)
    by_topic = sorted(
        rows,
        key=lambda r: ["accounts", "contacts", "deals", "spend", "intent", "engagement"].index(
            r[0]
        ),
    )
    skewed, _ = run(by_topic)
    assert_same_kpis(order_free(skewed), order_free(in_order))
    assert_same_kpis(in_order, ground_truth(rows, tiers, RULES, journeys))
