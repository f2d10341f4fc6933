"""KPIs through the real pipeline equal a ground truth computed from the generated rows.

Four months of history for 200 accounts (about 25,000 events with late and duplicate
deliveries) go through the embedded broker into a worker; the KPIs read back from Redis
must equal the independent figures exactly (counts) or to 1e-9 (money, ratios). Sent
again with every event twice, to a fresh pipeline, they must not move.
"""

import time

import orjson
import pytest
from click.testing import CliRunner
from redis import Redis

from streams.cli import cli
from tests.harness import (
    launch,
    pipeline_settings,
    read_kpis,
    send_rows,
    view_decisions,
    wait_until,
)
from tests.history import DAY, generate, ground_truth
from tests.kpi_compare import assert_same_kpis, kpi_differences

END = int(time.time() * 1000) - DAY
ROWS = generate(11, accounts=200, days=120, end=END)


def current(settings) -> tuple[dict, tuple]:
    """The KPIs, and the decisions (tiers, journeys) they are checked against."""
    accounts = [p["account_id"] for kind, p in ROWS if kind == "accounts"]
    return read_kpis(settings), view_decisions(settings, accounts)


def settled_kpis(settings, timeout: float = 240) -> tuple[dict, dict]:
    """Poll until the KPIs equal the ground truth of the tiers shown, twice in a row with
    nothing changed (staleness ticks may still move a tier just after the last event),
    or time runs out."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        kpis, decided = current(settings)
        tiers, journeys = decided
        want = ground_truth(ROWS, tiers, settings.rules, journeys) if len(tiers) == 200 else {}
        settled = bool(want) and not kpi_differences(kpis, want)
        if (settled and previous == (kpis, decided)) or time.monotonic() > deadline:
            return kpis, want
        previous = (kpis, decided) if settled else None
        time.sleep(2)


def run_pipeline(stack, name: str, copies: int) -> tuple[dict, dict, dict[str, str]]:
    settings, env = pipeline_settings(stack, clock="event", kpi_interval_s=0.5)
    worker = launch(settings, env, name)
    try:
        send_rows(settings, ROWS, copies)
        kpis, want = settled_kpis(settings)
    finally:
        assert worker.stop() == 0, worker.log.read_text()[-3000:]
    return kpis, want, env


def test_kpis_in_redis_equal_the_ground_truth(stack):
    kpis, want, env = run_pipeline(stack, "e2e-kpis", copies=1)
    assert want, "not every account reached Redis"
    assert_same_kpis(kpis, want)
    assert kpis["overall"]["opportunities_created"] > 1000

    # What people and dashboards read says the same: `abm kpis --json` and the kpi hashes.
    result = CliRunner().invoke(cli, ["kpis", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert_same_kpis(orjson.loads(result.output), want)
    # The hashes are republished from the partials every kpi_interval_s: wait for them.
    redis = Redis.from_url(env["ABM_REDIS_URL"], decode_responses=True)
    prefix = env["ABM_REDIS_PREFIX"]
    overall = wait_until(
        lambda: (
            (h := redis.hgetall(f"{prefix}kpi")).get("won") == str(want["overall"]["won"]) and h
        ),
        15,
        "the published abm:kpi hash",
    )
    assert float(overall["won_revenue"]) == pytest.approx(want["overall"]["won_revenue"], 1e-9)
    assert overall["as_of"] == want["as_of"]
    tier1 = redis.hgetall(f"{prefix}kpi:tier:1")
    assert int(tier1["accounts"]) == want["tiers"]["1"]["accounts"]
    last_day = max(want["daily"])
    daily = redis.hgetall(f"{prefix}kpi:daily:{last_day}")
    assert int(daily["engaged_accounts"]) == want["daily"][last_day]["engaged_accounts"]


def test_every_event_sent_twice_gives_the_same_kpis(stack):
    kpis, want, _ = run_pipeline(stack, "e2e-kpis-twice", copies=2)
    assert want, "not every account reached Redis"
    assert_same_kpis(kpis, want)
