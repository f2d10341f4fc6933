"""KPI maths against hand-computed figures, and the properties that keep them exact."""

from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import from_ms, to_ms
from streams.logic.inputs.decode import INPUT_MODELS
from streams.logic.kpis.kpi_report import report
from streams.logic.kpis.kpis import contribution, spend_contribution
from streams.logic.rules import Rules
from streams.logic.state.state import AccountState, DayBucket
from streams.logic.state.windows import day_of
from tests.factories import DAY, T0, deal, engagement, profile, replay, spend
from tests.history import generate
from tests.kpi_compare import assert_same_kpis

RULES = Rules()


def counters(*histories):
    total: Counter[str] = Counter()
    for events in histories:
        state, _, _ = replay(events)
        total.update(contribution(state, RULES))
    return dict(total)


def kpis(*histories, as_of=T0 + 30 * DAY):
    return report(counters(*histories), as_of, RULES)


def day(at):
    return from_ms(at).date().isoformat()


ACCOUNT_A = [
    profile(account="a"),
    deal(account="a", opp="o1", stage="prospecting", amount=100_000, at=T0),
    deal(account="a", opp="o1", stage="proposal", amount=100_000, at=T0 + 2 * DAY),
    deal(account="a", opp="o1", stage="closed_won", amount=120_000, at=T0 + 10 * DAY),
    deal(account="a", opp="o2", stage="prospecting", amount=50_000, at=T0 + DAY),
    deal(account="a", opp="o2", stage="closed_lost", amount=50_000, at=T0 + 5 * DAY),
]
ACCOUNT_B = [
    profile(account="b"),
    deal(account="b", opp="o3", stage="prospecting", amount=30_000, at=T0, deal_type="renewal"),
    deal(
        account="b",
        opp="o3",
        stage="closed_won",
        amount=30_000,
        at=T0 + 20 * DAY,
        deal_type="renewal",
    ),
    deal(
        account="b",
        opp="o4",
        stage="closed_lost",
        amount=10_000,
        at=T0 + 3 * DAY,
        deal_type="renewal",
    ),
    deal(
        account="b",
        opp="o5",
        stage="negotiation",
        amount=40_000,
        at=T0 + DAY,
        deal_type="expansion",
    ),
    deal(
        account="b",
        opp="o5",
        stage="closed_won",
        amount=40_000,
        at=T0 + 4 * DAY,
        deal_type="expansion",
    ),
    spend(account="b", amount=10_000, at=T0),
]


def test_outcomes_and_pipeline_by_hand():
    k = kpis(ACCOUNT_A, ACCOUNT_B)["overall"]
    assert k["opportunities_created"] == 5
    assert (k["won"], k["lost"]) == (3, 2)
    assert k["win_rate"] == pytest.approx(3 / 5)
    assert k["win_rate_by_value"] == pytest.approx(190_000 / 250_000)
    assert k["won_revenue"] == 190_000
    assert k["sales_cycle_days_mean"] == pytest.approx((10 + 20 + 3) / 3)
    assert k["sales_cycle_days_median"] == 10
    assert k["expansion_revenue"] == 40_000
    assert k["renewal_rate"] == 0.5
    assert (k["customers"], k["clv"]) == (2, 95_000)
    assert k["spend"] == 10_000
    assert k["roi"] == pytest.approx((190_000 - 10_000) / 10_000)
    assert k["open_pipeline_value"] == 0
    # o1 skipped qualification (counted as passed); o4 never entered the funnel.
    assert k["stage_funnel"] == {
        "prospecting": 4,
        "qualification": 3,
        "proposal": 3,
        "negotiation": 3,
        "closed_won": 3,
    }
    assert k["stage_conversion"]["prospecting->qualification"] == 0.75
    assert k["stage_conversion"]["negotiation->closed_won"] == 1.0
    assert (k["accounts"], k["accounts_with_opportunity"]) == (2, 2)
    assert k["account_to_opportunity_rate"] == 1.0


def test_daily_series_puts_outcomes_on_their_close_day():
    daily = kpis(ACCOUNT_A, ACCOUNT_B)["daily"]
    assert daily[day(T0 + 10 * DAY)]["won_revenue"] == 120_000
    assert daily[day(T0 + 5 * DAY)]["lost"] == 1
    assert daily[day(T0)]["opportunities_created"] == 2  # o1 and o3
    assert daily[day(T0)]["spend"] == 10_000
    assert daily[day(T0 + 4 * DAY)]["win_rate"] == 1.0
    assert sum(d["won"] for d in daily.values()) == 3


def test_every_ratio_with_an_empty_denominator_is_null():
    k = report({}, T0, RULES)
    for scope in [k["overall"], *k["tiers"].values()]:
        for name in (
            "win_rate",
            "win_rate_by_value",
            "sales_cycle_days_mean",
            "sales_cycle_days_median",
            "renewal_rate",
            "clv",
            "roi",
            "email_open_rate_30d",
            "email_click_rate_30d",
            "ad_click_through_rate_30d",
            "engaged_contacts_per_account_30d",
            "account_to_opportunity_rate",
        ):
            assert scope[name] is None, name
        assert scope["won_revenue"] == 0
    assert k["daily"] == {}


def test_reopened_and_repeated_closes():
    opp = [
        profile(account="r"),
        deal(account="r", opp="x", stage="prospecting", amount=10_000, at=T0),
        deal(account="r", opp="x", stage="closed_won", amount=10_000, at=T0 + 5 * DAY),
        deal(account="r", opp="x", stage="negotiation", amount=12_000, at=T0 + 6 * DAY),
    ]
    reopened = kpis(opp)["overall"]
    assert (reopened["won"], reopened["open_pipeline_value"]) == (0, 12_000)
    closed_again = [
        *opp,
        deal(account="r", opp="x", stage="closed_won", amount=12_000, at=T0 + 8 * DAY),
        deal(account="r", opp="x", stage="closed_won", amount=12_000, at=T0 + 9 * DAY),
    ]
    k = kpis(closed_again)["overall"]
    assert (k["won"], k["won_revenue"]) == (1, 12_000)
    assert k["sales_cycle_days_median"] == 8  # to the first close of the final run


@settings(max_examples=40, deadline=None)
@given(st.permutations(ACCOUNT_B[1:-1]), st.permutations(ACCOUNT_A[1:]))
def test_arrival_order_of_deal_events_does_not_matter(b_deals, a_deals):
    """Except when each journey step was first reached: dated, like a tier change, by
    when the engine first placed the account there (the final stage is order-free)."""

    def facts(bag):
        return {k: v for k, v in bag.items() if "|entered:" not in k and "|stage_ms:" not in k}

    in_order = counters(ACCOUNT_A, ACCOUNT_B)
    shuffled = counters([ACCOUNT_A[0], *a_deals], [ACCOUNT_B[0], *b_deals, ACCOUNT_B[-1]])
    assert facts(shuffled) == facts(in_order)
    assert any("|stage:customer" in k for k in in_order)


def test_redelivered_events_count_once():
    twice = [e for e in ACCOUNT_A for _ in range(2)]
    assert counters(twice) == counters(ACCOUNT_A)


def test_engagement_windows_and_rates_by_hand():
    a = [
        profile(account="a"),
        engagement(account="a", at=T0, contact="c1"),
        engagement(account="a", at=T0 + 20 * DAY, contact="c2"),
        engagement(account="a", at=T0 + 35 * DAY, contact="c1"),
    ]
    at = T0 + 35 * DAY

    def email(action, n):
        return [
            engagement(account="b", at=at, action=action, contact="c3", channel="email")
            for _ in range(n)
        ]

    b = [
        profile(account="b"),
        engagement(account="b", at=T0 + 2 * DAY, contact="c9"),  # engaged, but 33 days ago
        *email("email_delivered", 4),
        *email("email_open", 2),
        *email("email_click", 1),
        *[
            engagement(account="b", at=at, action="ad_impression", channel="ads", contact="c3")
            for _ in range(10)
        ],
        engagement(account="b", at=at, action="ad_click", channel="ads", contact="c3"),
        engagement(account="b", at=at, action="social_like", channel="social", contact="c3"),
        engagement(account="b", at=at, action="social_like", channel="social", contact="c3"),
        engagement(account="b", at=at, contact="c3", duration_s=30),
    ]
    k = kpis(a, b, as_of=T0 + 36 * DAY)["overall"]
    assert (k["engaged_accounts_7d"], k["engaged_accounts_30d"]) == (2, 2)
    # a: c1 and c2 within 30 days; b: c3 (c9 was 34 days ago).
    assert k["engaged_contacts_per_account_30d"] == 1.5
    assert k["email_open_rate_30d"] == 0.5
    assert k["email_click_rate_30d"] == 0.25
    assert k["ad_click_through_rate_30d"] == 0.1
    assert k["social_engagement_30d"] == 2
    assert k["time_on_site_s_30d"] == 30
    # Eight days on, a's last engagement is 9 days old: engaged in 30 days, not in 7.
    later = kpis(a, b, as_of=T0 + 44 * DAY)["overall"]
    assert (later["engaged_accounts_7d"], later["engaged_accounts_30d"]) == (0, 2)


def test_retention_and_deal_size_of_a_small_book():
    k = kpis(ACCOUNT_A, ACCOUNT_B)["overall"]
    assert k["average_deal_size"] == pytest.approx((120_000 + 30_000 + 40_000) / 3)
    assert (k["upsells"], k["upsell_revenue"], k["cross_sells"]) == (1, 40_000, 0)
    # Renewed 30,000 and expanded 40,000 on 40,000 of renewals closed (10,000 lost).
    assert k["net_revenue_retention"] == pytest.approx(70_000 / 40_000)
    assert (k["active_customers"], k["churned_customers"], k["annual_churn_rate"]) == (2, 0, 0)
    assert k["expected_lifetime_years"] == RULES.revenue.max_lifetime_years
    assert k["annual_revenue_per_customer"] == pytest.approx(190_000 / 2)
    assert k["clv_expected"] == pytest.approx(95_000 * 10)
    # b's renewal date is a year after its last win (T0 + 20 days): churned from then on.
    later = kpis(ACCOUNT_A, ACCOUNT_B, as_of=T0 + 385 * DAY)["overall"]
    assert (later["active_customers"], later["churned_customers"]) == (0, 2)
    assert later["annual_churn_rate"] == 1.0
    assert later["expected_lifetime_years"] == 1.0


def test_tiers_partition_the_overall_figures():
    k = kpis(ACCOUNT_A, ACCOUNT_B, [profile(account="c", fit=10)])
    tiers = k["tiers"].values()
    for name in ("accounts", "won", "lost", "opportunities_created", "customers"):
        assert sum(t[name] for t in tiers) == k["overall"][name], name
        targets = k["targets"][name]
        assert targets == sum(k["tiers"][t][name] for t in ("1", "2", "3")), name
    assert k["tiers"]["0"]["accounts"] == 1  # c is outside the ICP: untiered
    assert k["targets"]["accounts"] == 2
    assert k["tiers"]["0"]["account_to_opportunity_rate"] is None


def test_campaign_spend_counts_overall_and_in_no_tier():
    total = Counter(counters(ACCOUNT_B))
    total.update(spend_contribution("brand", {100: 5_000_000_000}))  # 5,000 in millionths
    k = report(dict(total), T0 + 30 * DAY, RULES)
    assert k["overall"]["spend"] == 15_000
    assert sum(t["spend"] for t in k["tiers"].values()) == 10_000


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_bags_added_into_one_equal_the_sum_of_each_accounts_bag(seed):
    """A replay adds every account's counters into one bag; it must equal the sum of their
    own bags (as the live view sums them), whichever days and tiers they share."""
    histories: dict[str, list] = {}
    for kind, payload in generate(seed, accounts=6, days=20, end=T0 + 20 * DAY):
        if kind == "contacts" or (kind == "spend" and not payload.get("account_id")):
            continue  # no account state: a roster, or a campaign's spend
        histories.setdefault(payload["account_id"], []).append(
            INPUT_MODELS[kind].model_validate_json(orjson.dumps(payload))
        )
    states = [replay(events)[0] for events in histories.values()]
    summed: Counter[str] = Counter()
    one: dict[str, int] = {}
    for state in states:
        summed.update(contribution(state, RULES))
        assert contribution(state, RULES, one) is one
    assert one == dict(summed)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_targets_are_the_report_of_the_tiered_accounts_alone(seed):
    """`targets` reads as if the untiered accounts were not there: every figure, the ratios
    and medians too, equals the overall report of the tier 1-3 accounts on their own."""
    histories: dict[str, list] = {}
    for kind, payload in generate(seed, accounts=8, days=30, end=T0 + 30 * DAY):
        if kind == "contacts" or (kind == "spend" and not payload.get("account_id")):
            continue
        histories.setdefault(payload["account_id"], []).append(
            INPUT_MODELS[kind].model_validate_json(orjson.dumps(payload))
        )
    bags = [contribution(replay(events)[0], RULES) for events in histories.values()]
    tiered = [bag for bag in bags if not next(iter(bag)).startswith("0|")]
    everyone, alone = Counter(), Counter()
    for bag in bags:
        everyone.update(bag)
    for bag in tiered:
        alone.update(bag)
    as_of = T0 + 30 * DAY
    assert_same_kpis(
        report(dict(everyone), as_of, RULES)["targets"],
        report(dict(alone), as_of, RULES)["overall"],
    )


RATES = {"USD": 1.0, "EUR": 1.25, "GBP": 0.8}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**7), st.sampled_from(sorted(RATES)), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_pipeline_and_won_revenue_are_in_the_base_currency(deals):
    rules = Rules(currencies={"base": "USD", "rates": {"EUR": 1.25, "GBP": 0.8}})
    events = [profile(account="a")] + [
        deal(
            account="a",
            opp=f"o{n}",
            amount=float(amount),
            currency=currency,
            stage="closed_won" if won else "proposal",
            at=T0 + n,
        )
        for n, (amount, currency, won) in enumerate(deals)
    ]
    state, _, _ = replay(events, rules=rules)
    overall = report(contribution(state, rules), T0 + 30 * DAY, rules)["overall"]
    open_value = sum(a * RATES[c] for a, c, won in deals if not won)
    won_value = sum(a * RATES[c] for a, c, won in deals if won)
    assert overall["open_pipeline_value"] == pytest.approx(open_value, abs=1e-5)
    assert overall["won_revenue"] == pytest.approx(won_value, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.integers(0, 29), st.sets(st.sampled_from("abcde"), min_size=1), max_size=12
        ),
        min_size=1,
        max_size=3,
    )
)
def test_engaged_people_of_any_week_are_the_distinct_contacts_in_it(accounts):
    """Each account: day -> contacts engaged that day. Every 7-day count the report gives
    (this week, the week before, each day's trailing week) equals a brute-force count."""
    today = day_of(T0) + 29
    bag: Counter[str] = Counter()
    people = set()
    for n, days in enumerate(accounts):
        state = AccountState(account_id=f"a{n}", tier=1)
        for offset, contacts in days.items():
            day = today - 29 + offset
            state.engagement[day] = DayBucket(points=1.0, contacts=sorted(contacts))
            people |= {(n, c, day) for c in contacts}
        bag.update(contribution(state, RULES))
    k = report(dict(bag), today * DAY, RULES)

    def brute(last: int) -> int:
        return len({(n, c) for n, c, d in people if last - 7 < d <= last})

    assert k["targets"]["engaged_contacts_7d"] == brute(today)
    assert k["targets"]["engaged_contacts_prior_7d"] == brute(today - 7)
    for date, row in k["daily"].items():
        d = day_of(to_ms(datetime.fromisoformat(date).replace(tzinfo=UTC)))
        want = brute(d) if d >= today - 23 else None
        assert row["engaged_contacts_7d"]["1"] == want, date


def at(date: str) -> int:
    return to_ms(datetime.fromisoformat(date).replace(tzinfo=UTC))


def test_the_campaign_example_of_the_docs():
    """docs/kpis.md, 'A campaign's influence', as written there."""
    q3 = {"campaign_id": "abm-q3"}
    acme = [
        profile(account="acme"),
        engagement("acme", at("2026-03-01"), "ad_impression", channel="ads", **q3),
        engagement("acme", at("2026-05-10"), "email_click", channel="email", **q3),
        engagement("acme", at("2026-07-01"), "email_click", channel="email", **q3),
        deal("acme", at("2026-06-15"), "o1", "prospecting", 60_000),
        deal("acme", at("2026-08-01"), "o1", "closed_won", 60_000),
        deal("acme", at("2026-11-20"), "o2", "prospecting", 40_000),
        spend("acme", at("2026-03-01"), 20_000, campaign="abm-q3"),
    ]
    row = kpis(acme, as_of=at("2026-12-01"))["campaigns"]["abm-q3"]
    assert row == {
        "accounts_touched": 1,
        "engaged_contacts": 1,
        "spend": 20_000,
        "opportunities_influenced": 1,
        "pipeline_influenced": 60_000,
        "won_revenue_influenced": 60_000,
        "opportunities_sourced": 1,
        "pipeline_sourced": 60_000,
        "won_revenue_sourced": 60_000,
        "roi": 2.0,
    }


def test_the_retention_example_of_the_docs():
    """docs/kpis.md, 'Retention, churn and expected CLV', as written there."""

    def won(account, opp, amount, date, deal_type="new", line=None):
        extra = {"product_line": line} if line else {}
        return deal(account, at(date), opp, "closed_won", amount, deal_type=deal_type, **extra)

    book = [
        [
            won("a", "a1", 100_000, "2025-03-01"),
            won("a", "a2", 110_000, "2026-02-20", "renewal", "core"),
            won("a", "a3", 20_000, "2026-06-01", "expansion", "analytics"),
        ],
        [
            won("b", "b1", 50_000, "2025-06-10"),
            deal("b", at("2026-06-05"), "b2", "closed_lost", 50_000, deal_type="renewal"),
        ],
        [won("c", "c1", 80_000, "2025-11-20")],
        [
            won("d", "d1", 40_000, "2026-09-01", line="core"),
            won("d", "d2", 10_000, "2026-10-01", "expansion", "core"),
        ],
    ]
    histories = [[profile(account=h[0].account_id), *h] for h in book]
    k = kpis(*histories, as_of=at("2026-12-01"))["overall"]
    figures = {
        "customers": 4,
        "active_customers": 2,
        "churned_customers": 2,
        "renewal_rate": 0.5,
        "upsells": 1,
        "upsell_revenue": 10_000,
        "cross_sells": 1,
        "cross_sell_revenue": 20_000,
        "net_revenue_retention": 0.875,
        "annual_churn_rate": 0.5,
        "expected_lifetime_years": 2.0,
        "annual_revenue_per_customer": 90_000,
        "clv_expected": 180_000,
        "clv": 102_500,
    }
    assert {name: k[name] for name in figures} == pytest.approx(figures)


def test_a_campaign_keeps_its_credit_for_a_deal_that_takes_months_to_close():
    """The account engages for months after the touch: the touch leaves the retention
    window, but it is inside the opportunity's influence window, so it stays."""
    q3 = {"campaign_id": "abm-q3"}
    events = [
        profile(account="acme"),
        engagement("acme", T0, "email_click", channel="email", **q3),
        deal("acme", T0 + 5 * DAY, "o1", "prospecting", 60_000),
        *(engagement("acme", T0 + d * DAY) for d in range(10, 135, 5)),
        deal("acme", T0 + 130 * DAY, "o1", "closed_won", 60_000),
    ]
    row = kpis(events, as_of=T0 + 135 * DAY)["campaigns"]["abm-q3"]
    assert (row["opportunities_influenced"], row["won_revenue_influenced"]) == (1, 60_000)


def test_a_record_stored_before_first_touches_were_kept_credits_no_campaign_with_sourcing():
    state, _, _ = replay([profile(account="acme"), engagement("acme", T0)])
    stored = orjson.loads(state.to_json())
    del stored["first_touch"]
    old = AccountState.from_json(orjson.dumps(stored))
    later = [
        engagement("acme", T0 + DAY, "email_click", channel="email", campaign_id="abm-q3"),
        deal("acme", T0 + 2 * DAY, "o1", "prospecting", 60_000),
    ]
    state, _, _ = replay(later, old)
    report_ = report(contribution(state, RULES), T0 + 3 * DAY, RULES)
    assert report_["campaigns"]["abm-q3"]["opportunities_sourced"] == 0
    assert report_["campaigns"]["abm-q3"]["opportunities_influenced"] == 1
