"""The KPI report from the pure logic equals a ground truth computed from the rows alone.

The history is replayed through `apply_event` exactly as the agents call it (decode,
owner, table, dead letters), in the order it is sent and, as in a backfill of topics
read one after another, topic by topic. The end-to-end test does the same through the
real pipeline.
"""

import itertools
from collections import Counter

import orjson
import pytest

from schemas.inputs import SpendEvent
from streams.logic.apply import apply_event, apply_roster
from streams.logic.decode import INPUT_MODELS, Coords, decode, decode_roster, owner_of
from streams.logic.kpi_report import report
from streams.logic.kpis import contribution, spend_contribution
from streams.logic.roster import received
from streams.logic.rules import Rules
from tests.factories import WALL
from tests.history import DAY, generate, ground_truth
from tests.kpi_compare import assert_same_kpis, order_free

RULES = Rules()
END = WALL - 30 * DAY


def run(rows, rules=RULES):
    accounts, campaigns, rosters = {}, {}, {}
    offsets = itertools.count()
    for kind, payload in rows:
        raw = orjson.dumps(payload)
        if kind == "contacts":  # as the ingest agent takes a roster
            account, record = decode_roster(payload["account_id"].encode(), raw)
            rosters[account] = received(None, account, record, kind, next(offsets), END)
            if account in accounts:
                apply_roster(accounts[account], rules, rosters)
            continue
        model = INPUT_MODELS[kind]
        event = decode(model, owner_of(model.model_validate_json(raw)).encode(), raw)
        is_campaign = isinstance(event, SpendEvent) and event.account_id is None
        table = campaigns if is_campaign else accounts
        coords = Coords(kind, 0, next(offsets), END)
        table[owner_of(event)] = apply_event(
            table.get(owner_of(event)), event, coords, rules, WALL, rosters
        ).state
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
