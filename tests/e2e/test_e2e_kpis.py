"""KPIs and alert outcomes through the real pipeline equal a ground truth computed from
the generated rows.

Four months of history for 200 accounts (about 30,000 events with late and duplicate
deliveries, sales activities after busy days) go through the embedded broker into a
worker; the KPIs read back from Redis must equal the independent figures exactly (counts)
or to 1e-9 (money, ratios), and so must the outcomes the worker publishes, which also
equal a replay's. Sent again with every event twice, to a fresh pipeline, they must not
move.

What follows an alert depends on the order its account's events are applied in (it
counts until the account's clock reaches the horizon). Live, each input topic has its own
agent, so how one account's events on different topics interleave depends on scheduling:
the history is therefore sent in rounds, each holding at most one topic's rows of any
account, the next sent once the worker has taken the last. Each account's events are
then applied in the order they were sent, as the ground truth and the replay take them.
The staleness timer is off for the same reason: it ticks an account at its partition's
stream time whenever it fires, and a tick moves the account's clock.
"""

import time

import orjson
import pytest
from click.testing import CliRunner
from redis import Redis

from streams.cli import cli
from tests.harness import (
    collect,
    launch,
    metric_sum,
    pipeline_settings,
    read_all,
    read_kpis,
    read_metrics,
    send_rows,
    view_decisions,
    wait_until,
)
from tests.history import DAY, alert_outcomes, generate, ground_truth
from tests.kpi_compare import assert_same_kpis, kpi_differences, replay_rows

END = int(time.time() * 1000) - DAY
ROWS = generate(11, accounts=200, days=120, end=END)


def rounds(rows: list[tuple[str, dict]]) -> list[list[tuple[str, dict]]]:
    """The rows in rounds: an account's (or a campaign's) k-th run of rows of one topic
    in round k, in order, so no round holds two topics' rows of one account."""
    out: list[list[tuple[str, dict]]] = []
    runs: dict[str, tuple[int, str]] = {}
    for kind, payload in rows:
        owner = payload.get("account_id") or payload["campaign_id"]
        run, last = runs.get(owner, (-1, ""))
        if kind != last:
            run += 1
            runs[owner] = (run, kind)
        if run == len(out):
            out.append([])
        out[run].append((kind, payload))
    return out


def send_in_rounds(settings, copies: int) -> None:
    sent = 0
    for batch in rounds(ROWS):
        send_rows(settings, batch, copies)
        sent += len(batch) * copies
        wait_until(
            lambda n=sent: metric_sum(read_metrics(settings), "abm_events_total") == n,
            60,
            f"{sent} records taken",
            step=0.05,
        )


def current(settings) -> tuple[dict, tuple]:
    """The KPIs, and the decisions (tiers, journeys, alerts) they are checked against."""
    accounts = [p["account_id"] for kind, p in ROWS if kind == "accounts"]
    decisions = view_decisions(settings, accounts)
    return read_kpis(settings), (*decisions, read_all(settings, settings.topics.surge_alerts))


def settled_kpis(settings, timeout: float = 240) -> tuple[dict, dict, list[dict]]:
    """Poll until the KPIs equal the ground truth of the decisions shown, twice in a row
    with nothing changed (the view, the rollup and the outbox flush on timers), or time
    runs out; the KPIs, the ground truth and the alerts."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        kpis, decided = current(settings)
        tiers, journeys, alerts = decided
        want = {}
        if len(tiers) == 200:
            want = ground_truth(ROWS, tiers, settings.rules, journeys, alerts)
        settled = bool(want) and not kpi_differences(kpis, want)
        if (settled and previous == (kpis, decided)) or time.monotonic() > deadline:
            return kpis, want, alerts
        previous = (kpis, decided) if settled else None
        time.sleep(1)


def run_pipeline(stack, name: str, copies: int) -> tuple[dict, dict, dict[str, str]]:
    settings, env = pipeline_settings(
        stack, clock="event", tick_interval_s=3600, kpi_interval_s=0.5
    )
    worker = launch(settings, env, name)
    try:
        send_in_rounds(settings, copies)
        kpis, want, alerts = settled_kpis(settings)
        outcomes = alert_outcomes(ROWS, alerts, settings.rules)
        topic = settings.topics.alert_outcomes
        collect(settings, topic, lambda seen: len({o["alert_id"] for o in seen}) >= len(outcomes))
        published = read_all(settings, topic)
    finally:
        assert worker.stop() == 0, worker.log.read_text()[-3000:]
    by_id: dict[str, dict] = {}
    for outcome in published:
        assert by_id.setdefault(outcome["alert_id"], outcome) == outcome  # a repeat is a copy
    assert any(o["opportunity_id"] for o in by_id.values()), "no outcome to compare"
    assert_same_kpis(by_id, {o["alert_id"]: o for o in outcomes})
    replayed = replay_rows(ROWS, settings.rules, int(time.time() * 1000))
    raised = {a["alert_id"]: a for a in alerts}
    assert_same_kpis(raised, {a["alert_id"]: a for a in replayed.alerts})
    assert_same_kpis(by_id, {o["alert_id"]: o for o in replayed.outcomes})
    return kpis, want, env


def test_kpis_in_redis_equal_the_ground_truth(stack):
    kpis, want, env = run_pipeline(stack, "e2e-kpis", copies=1)
    assert want, "not every account reached Redis"
    assert_same_kpis(kpis, want)
    assert kpis["overall"]["opportunities_created"] > 1000
    alerts = kpis["overall"]["alerts"]
    assert alerts["responded"] > alerts["responded_within_sla"] > 0
    assert alerts["opportunities_delivered"] > 0

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
