"""Reliability drills too long for `make test`: a 60 s Redis outage, a broker restart, and a
worker killed while a route's deliveries are queued.

Each drill runs its own embedded stack and a real worker, plays a generated history
(profiles, months of engagement, intent, deals and spend, with late and duplicate
deliveries) and disturbs it halfway. It then prints one row per drill: events in, events
the worker accounted for (applied, duplicate or dead-lettered, from its /metrics),
duplicates applied, events lost, and the result. Every wait is bounded.

    python drills/reliability.py [--outage-s 60] [--only redis|broker|deliveries]
"""

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.clients.admin import ensure_topics
from streams.config import Settings
from streams.dev.embedded import EmbeddedStack
from streams.worker.agents.watchdog import EXIT_NO_PROGRESS
from tests.harness import (
    RouteReceiver,
    Worker,
    launch,
    metric_sum,
    pipeline_settings,
    read_all,
    read_metrics,
    send_rows,
    view_differences,
)
from tests.history import DAY, generate

SETTLE_S = 180.0
Rows = list[tuple[str, dict]]


@dataclass
class Row:
    scenario: str
    events_in: int
    accounted: int
    duplicates_applied: int
    lost: int
    result: str


def counters(worker: Worker) -> dict[str, float]:
    """Input records by outcome, summed over topics, from the worker's /metrics."""
    metrics = read_metrics(worker.settings)
    return {
        outcome: metric_sum(metrics, "abm_events_total", outcome=outcome)
        for outcome in ("applied", "duplicate", "dead_letter")
    }


def expected_applied(rows: Rows) -> int:
    """Records that change state once: every profile, each event id once per source."""
    return sum(1 for kind, _ in rows if kind == "accounts") + len(
        {(kind, p["event_id"]) for kind, p in rows if kind != "accounts"}
    )


def wait_accounted(worker: Worker, n: int, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        seen = counters(worker)
        if sum(seen.values()) >= n or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def settle(settings: Settings, rows: Rows) -> list[str]:
    """Two equal readings in a row (a tick can still move a tier just after the last event)."""
    deadline = time.monotonic() + SETTLE_S
    previous: list[str] | None = None
    while time.monotonic() < deadline:
        differences = view_differences(settings, rows)
        if not differences and previous == []:
            return []
        previous = differences
        time.sleep(1)
    return previous or ["never settled"]


def judge(
    name: str, rows: Rows, seen: dict[str, float], differences: list[str], note: str = ""
) -> Row:
    applied, want = int(seen["applied"]), expected_applied(rows)
    accounted = int(sum(seen.values()))
    duplicates, lost = max(applied - want, 0), max(want - applied, 0)
    ok = accounted == len(rows) and not duplicates and not lost and not differences
    result = "PASS" if ok else f"FAIL: {'; '.join(differences[:3]) or 'counts differ'}"
    return Row(name, len(rows), accounted, duplicates, lost, f"{result}{note}")


def redis_outage(rows: Rows, outage_s: float) -> Row:
    """Redis stops for `outage_s` while the second half of the history streams in, and
    comes back empty: processing must go on and the view be rebuilt whole."""
    with EmbeddedStack() as stack:
        settings, env = pipeline_settings(stack, clock="event", kpi_interval_s=0.5)
        worker = launch(settings, env, "drill-redis-outage")
        try:
            half = len(rows) // 2
            send_rows(settings, rows[:half])
            before = sum(wait_accounted(worker, half, 60).values())
            stack.stop_redis()
            started = time.monotonic()
            send_rows(settings, rows[half:])
            during = wait_accounted(worker, len(rows), outage_s)
            time.sleep(max(0.0, outage_s - (time.monotonic() - started)))
            alive = worker.child.proc.poll() is None
            stack.start_redis()
            differences = settle(settings, rows)
            seen = counters(worker)
        finally:
            code = worker.stop()
        processed = int(sum(during.values()) - before)
        note = (
            f" ({processed} processed while Redis was down {outage_s:.0f}s;"
            f" worker {'up' if alive else 'DIED'}; stop code {code})"
        )
        if not alive or code != 0:
            differences = [*differences, "worker did not stay up or stop cleanly"]
        return judge(f"redis outage {outage_s:.0f}s", rows, seen, differences, note)


def broker_restart(rows: Rows) -> Row:
    """The embedded broker restarts empty under the worker (it keeps its log in memory).

    Promise: a clear message and an exit, never a silent hang; once restarted (as a
    supervisor would) the worker processes everything sent after the restart. What the
    broker held before is gone with it: counted as lost, by the broker, not the worker.
    """
    with EmbeddedStack() as stack:
        settings, env = pipeline_settings(stack, clock="event", watchdog_interval_s=1)
        worker = launch(settings, env, "drill-broker-restart")
        half = len(rows) // 2
        before, after = rows[:half], rows[half:]
        send_rows(settings, before)
        wait_accounted(worker, half, 60)
        stack.stop_broker()
        time.sleep(5)
        stack.start_broker()
        restarted = time.monotonic()
        asyncio.run(ensure_topics(settings))
        send_rows(settings, after)
        try:
            code = worker.child.proc.wait(60)
        except subprocess.TimeoutExpired:
            code = None
        exited_s = time.monotonic() - restarted
        message = next(
            (line for line in worker.log.read_text().splitlines() if "CRITICAL" in line), ""
        )
        if code is None:
            worker.stop(signal.SIGKILL)
            return Row("broker restart", len(rows), 0, 0, len(rows), "FAIL: no exit (silent hang)")
        again = launch(settings, env, "drill-broker-restart-2")
        try:
            differences = settle(settings, after)
            seen = counters(again)
        finally:
            again.stop()
        reason = message.split("stopping the worker: ", 1)[-1][:90]
        note = (
            f" (exit {code} {exited_s:.1f}s after the broker returned: '{reason}...'; after "
            f"a restart the worker processed all it was sent since; the {half} events the "
            "broker held before were lost with its memory)"
        )
        if code != EXIT_NO_PROGRESS:
            differences = [*differences, f"exit code {code}, expected {EXIT_NO_PROGRESS}"]
        row = judge("broker restart (empty)", after, seen, differences, note)
        return Row(row.scenario, len(rows), row.accounted, row.duplicates_applied, half, row.result)


def queued_deliveries_killed(accounts: int) -> Row:
    """Every account surges, a route's receiver is slow, and the worker is killed
    (SIGKILL) once a third of the alerts reached it, with the rest waiting in its queue.
    A new worker must post every alert still owed: each at least once."""
    receiver = RouteReceiver(delay_s=0.05)
    start = (int(time.time() * 1000) // DAY - 10) * DAY
    with EmbeddedStack() as stack, tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "routes.toml"
        rules.write_text(
            f'[[routes]]\nname = "sales"\nkinds = ["intent"]\nurl = "{receiver.url}"\n'
            'secret_env = "ABM_ROUTE_SALES_KEY"\n'
        )
        settings, env = pipeline_settings(
            stack,
            clock="event",
            config_file=rules,
            webhook__senders=1,
            webhook__max_age_s=365 * 86_400,
            webhook__queue_size=10 * accounts,
        )
        env["ABM_ROUTE_SALES_KEY"] = "drill-route-key-of-at-least-32-bytes"
        ids = [f"acct-{n}" for n in range(accounts)]
        rows: Rows = [
            ("accounts", {"account_id": a, "name": a, "fit_score": 90, "owner": "sam"}) for a in ids
        ]
        rows += [
            (
                "intent",
                {
                    "event_id": f"{a}-i",
                    "account_id": a,
                    "provider": "g2",
                    "topic": "crm software",
                    "score": 90,
                    "occurred_at": start,
                },
            )
            for a in ids
        ]
        worker = launch(settings, env, "drill-queued-deliveries")
        killed_at = 0
        try:
            send_rows(settings, rows)
            deadline = time.monotonic() + 120
            while len(receiver.ids) < accounts // 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            killed_at = len(receiver.ids)
        finally:
            worker.stop(signal.SIGKILL)
        again = launch(settings, env, "drill-queued-deliveries-2")
        try:
            raised = read_all(settings, settings.topics.surge_alerts)
            # A reissue (the intent came before the profile) is not the route's: it heard
            # the first alert, and the owner adds nothing to its match.
            alerts = {a["alert_id"] for a in raised if not a.get("reissue_of")}
            alerted = {a["account_id"] for a in raised}
            deadline = time.monotonic() + SETTLE_S
            while not alerts <= set(receiver.ids) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            again.stop()
            receiver.server.shutdown()
    posted = set(receiver.ids)
    missing = len(alerts - posted)
    repeats = len(receiver.ids) - len(posted)
    ok = len(alerted) == accounts and not missing and posted <= alerts
    note = (
        f" ({len(alerts)} alerts; {killed_at} posted when the worker was killed; after the "
        f"restart every one posted, {repeats} of them twice: receivers drop repeats by "
        "X-ABM-Alert-Id)"
        if ok
        else f" ({len(alerts)} alerts, {missing} never posted)"
    )
    return Row(
        "worker killed with deliveries queued",
        len(rows),
        2 * len(alerted),  # an account alerting took its profile and its intent
        0,
        missing,
        ("PASS" if ok else "FAIL") + note,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage-s", type=float, default=60.0, help="Redis outage length")
    parser.add_argument("--only", choices=["redis", "broker", "deliveries"], help="run one drill")
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()
    rows = generate(11, accounts=args.accounts, days=args.days, end=int(time.time() * 1000) - DAY)
    results = []
    if args.only in (None, "redis"):
        results.append(redis_outage(rows, args.outage_s))
    if args.only in (None, "broker"):
        results.append(broker_restart(rows))
    if args.only in (None, "deliveries"):
        results.append(queued_deliveries_killed(args.accounts))
    header = ("scenario", "events in", "accounted", "duplicates applied", "lost", "result")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        cells = (r.scenario, r.events_in, r.accounted, r.duplicates_applied, r.lost, r.result)
        print("| " + " | ".join(str(c) for c in cells) + " |")
    sys.exit(0 if all(r.result.startswith("PASS") for r in results) else 1)


if __name__ == "__main__":
    main()
