"""The alerts' figures (docs/kpis.md, Alerts) read from hand-made counters, and how
`abm kpis` and `abm kpis --owners` print them."""

import math
import re

import orjson
import pytest
from click.testing import CliRunner

from streams.cli import cli
from streams.kpi_table import campaign_table, kpi_table, owner_table
from streams.logic.kpis.kpi_report import NO_OWNER, report
from streams.logic.kpis.kpis import SCALE
from streams.logic.kpis.lift import METHOD
from streams.logic.rules import Rules

RULES = Rules()
AS_OF = 1_790_000_000_000
MINUTE = 60

ALICE_WAITS_S = [12 * MINUTE, 30 * MINUTE, 45 * MINUTE, 180 * MINUTE, 540 * MINUTE]
"""The docs' worked example: alice's five responses, one of her six alerts unanswered."""


def tier(n: int, **figures: int) -> dict[str, int]:
    return {f"{n}|alerts_{name}": value for name, value in figures.items()}


def waits(key: str, seconds: list[int]) -> dict[str, int]:
    """Response times as kpis.py files them: a count per whole second, `key` naming it."""
    out: dict[str, int] = {}
    for s in seconds:
        out[key.format(s)] = out.get(key.format(s), 0) + 1
    return out


DELIVERED_WAITS = "{tier}|alerts_response_s_delivered|{{}}"


COUNTERS = {
    # Tier 1: the docs' example, 40 delivered (8 opportunities) and 20 held out (2).
    **tier(
        1,
        raised=60,
        delivered=40,
        held_out=20,
        responded_delivered=5,
        sla_delivered=4,
        responded_held_out=3,
        opportunity_delivered=8,
        opportunity_held_out=2,
        pipeline_delivered=400_000 * SCALE,
        pipeline_held_out=50_000 * SCALE,
        won_delivered=3,
        won_held_out=1,
    ),
    **waits(DELIVERED_WAITS.format(tier=1), ALICE_WAITS_S),
    **waits("1|alerts_response_s_held_out|{}", [5 * MINUTE]),
    # Tier 2: 9 held out, too few for a lift.
    **tier(2, raised=21, delivered=12, held_out=9, opportunity_delivered=1, opportunity_held_out=1),
    # Tier 0 (untiered): in overall, not in targets.
    **tier(0, raised=4, delivered=4, responded_delivered=1, sla_delivered=0),
    **waits(DELIVERED_WAITS.format(tier=0), [600 * MINUTE + 59]),
    # Owners: alice's six delivered alerts; five with no owner.
    "~|alerts_raised|alice": 6,
    "~|alerts_delivered|alice": 6,
    "~|alerts_responded_delivered|alice": 5,
    "~|alerts_sla_delivered|alice": 4,
    "~|alerts_opportunity_delivered|alice": 2,
    "~|alerts_pipeline_delivered|alice": 90_000 * SCALE,
    **waits("~|alerts_response_s_delivered:{}|alice", ALICE_WAITS_S),
    "~|alerts_raised|": 7,
    "~|alerts_delivered|": 5,
    "~|alerts_held_out|": 2,
    "~|alerts_raised|bob": 2,
    "~|alerts_held_out|bob": 2,
}


@pytest.fixture(scope="module")
def kpis() -> dict:
    return report(COUNTERS, AS_OF, RULES)


def test_response_figures_are_of_delivered_alerts(kpis):
    one = kpis["tiers"]["1"]["alerts"]
    assert (one["raised"], one["delivered"], one["held_out"]) == (60, 40, 20)
    assert (one["responded"], one["responded_within_sla"]) == (5, 4)
    assert one["response_rate"] == 5 / 40
    assert one["sla_rate"] == 4 / 40
    # Nearest rank over 12, 30, 45, 180, 540 minutes: the 3rd and the 5th of five.
    assert (one["response_minutes_p50"], one["response_minutes_p90"]) == (45, 540)
    assert one["responded_held_out"] == 3  # counted, but in no response figure


def test_quantiles_are_over_whole_seconds_in_minutes(kpis):
    assert kpis["tiers"]["0"]["alerts"]["response_minutes_p50"] == (600 * MINUTE + 59) / 60
    # overall: 12, 30, 45, 180, 540, 600.98 min; 6 values, ranks 3 and 6.
    overall = kpis["overall"]["alerts"]
    assert overall["response_minutes_p50"] == 45
    assert overall["response_minutes_p90"] == (600 * MINUTE + 59) / 60


def test_opportunity_rates_pipeline_and_wins_are_per_group(kpis):
    one = kpis["tiers"]["1"]["alerts"]
    assert (one["opportunities_delivered"], one["opportunities_held_out"]) == (8, 2)
    assert one["opportunity_rate_delivered"] == 8 / 40
    assert one["opportunity_rate_held_out"] == 2 / 20
    assert one["pipeline_per_alert"] == 400_000 / 40
    assert one["pipeline_per_alert_held_out"] == 50_000 / 20
    assert (one["won_delivered"], one["won_held_out"]) == (3, 1)


def test_lift_is_the_rate_ratio_with_katz_interval(kpis):
    one = kpis["tiers"]["1"]["alerts"]
    assert one["lift"] == pytest.approx(2.0)
    spread = 1.96 * math.sqrt(1 / 8 - 1 / 40 + 1 / 2 - 1 / 20)
    low, high = one["lift_ci_95"]
    assert low == pytest.approx(2 * math.exp(-spread), rel=1e-4)
    assert high == pytest.approx(2 * math.exp(spread), rel=1e-4)
    assert (round(low, 2), round(high, 2)) == (0.47, 8.56)  # the docs' worked example
    assert (one["lift_method"], one["lift_note"]) == (METHOD, "measured")


def test_no_lift_without_enough_alerts_or_an_opportunity_in_each_group(kpis):
    two = kpis["tiers"]["2"]["alerts"]
    assert (two["lift"], two["lift_ci_95"]) == (None, None)
    assert two["lift_note"] == (
        "not enough data: 12 delivered and 9 held-out alerts (at least 10 of each)"
    )
    none_after = report(
        tier(1, raised=60, delivered=40, held_out=20, opportunity_delivered=8), AS_OF, RULES
    )["tiers"]["1"]["alerts"]
    assert none_after["lift"] is None
    assert none_after["lift_note"].startswith("not enough data: 8 and 0 opportunities")
    untiered = kpis["tiers"]["0"]["alerts"]
    assert untiered["lift"] is None
    assert untiered["lift_note"].startswith("no holdout")


def test_targets_sum_tiers_1_to_3_and_overall_adds_the_untiered(kpis):
    targets, overall = kpis["targets"]["alerts"], kpis["overall"]["alerts"]
    assert (targets["raised"], targets["delivered"], targets["held_out"]) == (81, 52, 29)
    assert (overall["raised"], overall["delivered"], overall["responded"]) == (85, 56, 6)
    assert targets["opportunity_rate_held_out"] == 3 / 29
    assert targets["lift"] == pytest.approx((9 / 52) / (3 / 29))


def test_an_empty_group_has_no_rate_never_a_zero(kpis):
    three = kpis["tiers"]["3"]["alerts"]
    assert three["raised"] == 0
    for name in ("response_rate", "sla_rate", "response_minutes_p50", "opportunity_rate_held_out"):
        assert three[name] is None, name
    assert three["pipeline_per_alert"] is None


def test_owners_have_the_same_figures_and_no_owner_is_named(kpis):
    owners = kpis["owners"]
    assert list(owners) == [NO_OWNER, "alice", "bob"]
    alice = owners["alice"]
    assert (alice["delivered"], alice["responded"], alice["sla_rate"]) == (6, 5, 4 / 6)
    assert (alice["response_minutes_p50"], alice["response_minutes_p90"]) == (45, 540)
    assert alice["opportunity_rate_delivered"] == 2 / 6
    assert alice["pipeline_per_alert"] == 15_000
    assert owners[NO_OWNER]["held_out"] == 2


def lift_lines(table: str) -> dict[str, str]:
    start = table.index("lift (")
    return dict(
        re.match(r"\s+(\S+(?: \d)?)\s+(.*)", line).groups()
        for line in table[start:].splitlines()[1:]
    )


def test_the_kpi_table_has_an_alerts_block_and_a_lift_line_per_scope(kpis):
    table = kpi_table(kpis)
    block = table[table.index("Alerts (docs/kpis.md#alerts)") :]
    assert re.search(r"^delivered\s+56\s+52\s+40\s+12\s+0\s+4$", block, re.M), block
    assert re.search(r"^response_rate\s+10\.7%\s+9\.6%\s+12\.5%\s+0\.0%\s+-\s+25\.0%$", block, re.M)
    assert re.search(r"^opportunity_rate_delivered\s+16\.1%\s+17\.3%\s+20\.0%\s", block, re.M)
    assert re.search(r"^response_minutes_p90\s+600\.98\s+540\.00\s+540\.00\s+-\s+-", block, re.M)
    assert "lift_note" not in block
    assert "lift_ci_95" not in block
    assert block.count(f"lift ({METHOD}):") == 1
    lifts = lift_lines(table)
    assert lifts["tier 1"] == "2.00 (95% interval 0.47 to 8.56)"
    assert lifts["tier 2"] == kpis["tiers"]["2"]["alerts"]["lift_note"]  # verbatim
    assert lifts["tier 3"] == kpis["tiers"]["3"]["alerts"]["lift_note"]
    assert not re.search(r"\d", lifts["tier 3"])  # no number where there is none
    assert list(lifts) == ["all", "targets", "tier 1", "tier 2", "tier 3", "untiered"]


def columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_the_owners_table_puts_the_busiest_first(kpis):
    table = owner_table(kpis).splitlines()
    assert table[0].startswith(f"Alerts by owner as of {kpis['as_of']}")
    assert columns(table[1]) == [
        "owner",
        "delivered",
        "responded",
        "within SLA",
        "p50 min",
        "p90 min",
        "opp. rate",
        "pipeline/alert",
    ]
    assert columns(table[2]) == ["alice", "6", "5", "66.7%", "45.00", "540.00", "33.3%", "15,000"]
    assert columns(table[3]) == ["(no owner)", "5", "0", "0.0%", "-", "-", "0.0%", "0.00"]
    assert columns(table[4]) == ["bob", "0", "0", "-", "-", "-", "-", "-"]
    empty = report({}, AS_OF, RULES)
    assert owner_table(empty) == f"Alerts by owner as of {empty['as_of']}: none raised yet"
    last = kpi_table(empty).splitlines()[-1]
    assert columns(last) == [
        "untiered",
        "no holdout: no alert here was held out ([rules.outcomes] holdout)",
    ]


def test_the_campaigns_table_still_lists_each_campaign():
    counters = {"@|touched|abm-q3": 2, "@|spend|abm-q3": 20_000 * SCALE}
    table = campaign_table(report(counters, AS_OF, RULES)).splitlines()
    assert columns(table[2])[:4] == ["abm-q3", "2", "0", "20,000"]


@pytest.fixture
def reported(monkeypatch, kpis):
    async def read_report(*_args: object) -> dict:
        return kpis

    monkeypatch.setattr("streams.sinks.kpi_view.read_report", read_report)


def test_abm_kpis_owners_prints_the_table_or_json(reported, kpis):
    shown = CliRunner().invoke(cli, ["kpis", "--owners"], catch_exceptions=False)
    assert shown.output == owner_table(kpis) + "\n"
    shown = CliRunner().invoke(cli, ["kpis", "--owners", "--json"], catch_exceptions=False)
    assert orjson.loads(shown.output) == {"as_of": kpis["as_of"], "owners": kpis["owners"]}
    shown = CliRunner().invoke(cli, ["kpis"], catch_exceptions=False)
    assert shown.output == kpi_table(kpis) + "\n"


def test_abm_kpis_refuses_owners_with_campaigns(reported):
    shown = CliRunner().invoke(cli, ["kpis", "--owners", "--campaigns"])
    assert shown.exit_code == 2
    assert "--campaigns and --owners print different tables: give one of them" in shown.output
