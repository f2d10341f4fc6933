"""`abm view` keeps Redis from the state changelogs, and ends equal to the ground truth.

The worker runs as by default (no --with-view) and writes only Kafka; the view processes read
its changelogs. Whatever happens to them (killed and restarted, two racing through a
hand-over, Redis lost and back empty), the view must end equal to the independent ground
truth of the history sent (tests/history.py), KPIs included.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import orjson
from click.testing import CliRunner
from redis import Redis

from streams.cli import cli
from streams.dev.embedded import EmbeddedStack, free_port
from streams.dev.settle import view_holds
from streams.dev.supervise import ChildWorker, processed_records, scrape, start_view
from tests.e2e.test_e2e_lifecycle import rows as lifecycle_rows
from tests.harness import (
    ARTIFACTS,
    collect,
    launch,
    pipeline_settings,
    read_kpis,
    redis_holds,
    send_rows,
    view_decisions,
    view_differences,
    wait_until,
)
from tests.history import DAY, generate

END = int(time.time() * 1000) - DAY
ROWS = generate(5, accounts=40, days=45, end=END)
QUARTER = len(ROWS) // 4


def view(env: dict[str, str], name: str) -> ChildWorker:
    """A view process on a port of its own: two at once must not answer for each other."""
    child = start_view({**env, "ABM_VIEW_PORT": str(free_port())}, ARTIFACTS / f"{name}.log")
    child.wait_ready(90)
    return child


def settle(settings, rows: list, *views: ChildWorker) -> list[str]:
    """How the view differs from the ground truth of `rows` once `views` report every
    changelog record written (no polling of Redis: what they report must hold)."""
    view_holds(settings, [v.web_port for v in views], timeout_s=90)
    return view_differences(settings, rows)


def settings_for(stack: EmbeddedStack):
    return pipeline_settings(stack, clock="event", kpi_interval_s=0.5, view_port=free_port())


def test_the_worker_writes_no_view_and_view_processes_end_equal_to_the_truth(stack):
    settings, env = settings_for(stack)
    worker = launch(settings, env, "view-worker", with_view=False)
    views: list[ChildWorker] = []
    try:
        send_rows(settings, ROWS[:QUARTER])
        deadline = time.monotonic() + 60
        while processed_records(settings.web_port) < QUARTER and time.monotonic() < deadline:
            time.sleep(0.2)
        redis = Redis.from_url(settings.redis_url)
        assert not redis.keys(f"{settings.redis_prefix}*"), "the worker wrote to Redis"

        views.append(view(env, "view-a"))
        assert not (differences := settle(settings, ROWS[:QUARTER], views[0])), "\n".join(
            differences[:20]
        )

        # Killed without a word, history moves on, a new one starts: it reads it all.
        views[0].stop(signal.SIGKILL)
        send_rows(settings, ROWS[QUARTER : 2 * QUARTER])
        views.append(view(env, "view-b"))
        assert not (differences := settle(settings, ROWS[: 2 * QUARTER], views[1])), "\n".join(
            differences[:20]
        )

        # A second joins (the partitions are split), events flow, the first leaves, and
        # the rest of history reaches the second alone.
        views.append(view(env, "view-c"))
        send_rows(settings, ROWS[2 * QUARTER : 3 * QUARTER])
        assert views[1].stop() == 0, views[1].log.read_text()[-3000:]
        send_rows(settings, ROWS[3 * QUARTER :])
        assert not (differences := settle(settings, ROWS, views[2])), "\n".join(differences[:20])
        # It reports the accounts per tier it holds, as a worker that keeps the view does.
        tiers, _ = view_decisions(
            settings, sorted({p["account_id"] for _, p in ROWS if "account_id" in p})
        )
        shown = {
            dict(labels)["tier"]: value
            for (name, labels), value in scrape(views[2].web_port).items()
            if name == "abm_tier_accounts"
        }
        assert shown == {str(tier): n for tier, n in Counter(tiers.values()).items()}
        # Through the kill and the hand-over, each tier change entered the stream once.
        changes = Counter(
            (c["account_id"], c["version"])
            for _, fields in redis.xrange(f"{settings.redis_prefix}changes")
            for c in [orjson.loads(fields[b"change"])]
        )
        assert changes
        assert [k for k, n in changes.items() if n > 1] == []
        assert views[2].stop() == 0, views[2].log.read_text()[-3000:]
    finally:
        for child in views:
            child.stop()
        assert worker.stop() == 0, worker.log.read_text()[-3000:]


def test_the_view_is_rebuilt_when_redis_returns_empty():
    with EmbeddedStack() as stack:
        settings, env = settings_for(stack)
        worker = launch(settings, env, "view-outage-worker", with_view=False)
        child = view(env, "view-outage")
        try:
            send_rows(settings, ROWS[: len(ROWS) // 2])
            assert not (differences := settle(settings, ROWS[: len(ROWS) // 2], child)), "\n".join(
                differences[:20]
            )
            stack.stop_redis()
            send_rows(settings, ROWS[len(ROWS) // 2 :])  # read while Redis is away
            time.sleep(2)  # the outage: the view retries with backoff meanwhile
            assert child.proc.poll() is None
            stack.start_redis()
            assert not (differences := settle(settings, ROWS, child)), "\n".join(differences[:20])
        finally:
            assert child.stop() == 0, child.log.read_text()[-3000:]
            assert worker.stop() == 0, worker.log.read_text()[-3000:]


def test_an_erasure_keeps_out_of_redis_what_the_topics_and_changelogs_still_hold(stack):
    """Erasures the worker applies before a view process starts: `abm forget` waits for
    the view too. The view then reads alerts naming the person and the erased account's
    outputs and states from the topics and changelogs, after the requests or before
    them, and must write none of it. Then one while it runs."""
    secret = "p-secret-view-5521"
    history = lifecycle_rows(secret)
    settings, env = settings_for(stack)
    worker = launch(settings, env, "view-erasure-worker", with_view=False)
    mine = f"{settings.redis_prefix}*"

    def forget(*args: str) -> None:
        result = CliRunner().invoke(cli, ["forget", *args], env=env)
        assert result.exit_code == 0, result.output

    try:
        send_rows(settings, history)
        alerts = collect(
            settings,
            settings.topics.surge_alerts,
            lambda seen: (
                {"acct-person", "acct-whole", "acct-keep"} <= {a["account_id"] for a in seen}
                and any(secret in a["contacts"] for a in seen)
            ),
            timeout=60,
        )
        named = [p for a in alerts if a["account_id"] == "acct-keep" for p in a["contacts"]]
        waiting = [
            subprocess.Popen(
                [sys.executable, "-m", "streams", "forget", *args],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for args in (
                ["--account", "acct-person", "--contact", secret],
                ["--account", "acct-whole"],
            )
        ]
        redis = Redis.from_url(settings.redis_url)
        wait_until(
            lambda: len(redis.keys(f"{settings.redis_prefix}erasure:*")) == 2, 30, "the worker"
        )
        assert all(w.poll() is None for w in waiting)  # the view's word is missing
        child = view(env, "view-erasure")
        try:
            for w in waiting:
                out, _ = w.communicate(timeout=60)
                assert w.returncode == 0, out
            assert redis_holds(settings, secret, mine) == []  # once `abm forget` returns
            assert redis_holds(settings, "acct-whole", mine) == []
            view_holds(settings, [child.web_port], timeout_s=90)
            assert redis_holds(settings, secret, mine) == []
            assert redis_holds(settings, "acct-whole", mine) == []
            tiers, _ = view_decisions(settings, ["acct-person", "acct-keep"])
            assert set(tiers) == {"acct-person", "acct-keep"}  # the rest is written

            # While it runs: a person of acct-keep its alerts named, now in Redis.
            assert named
            assert redis_holds(settings, named[0], mine)
            forget("--account", "acct-keep", "--contact", named[0])
            assert redis_holds(settings, named[0], mine) == []
            # And a whole account, the first erasure of a worker started afresh: the
            # view's KPIs and writes go on without it (the worker writes nothing there).
            assert read_kpis(settings)["overall"]["accounts"] == 3
            assert worker.stop() == 0, worker.log.read_text()[-3000:]
            worker = launch(settings, env, "view-erasure-worker-2", with_view=False)
            forget("--account", "acct-gone")
            assert redis_holds(settings, "acct-gone", mine) == []
            view_holds(settings, [child.web_port], timeout_s=90)
            assert read_kpis(settings)["overall"]["accounts"] == 2
        finally:
            assert child.stop() == 0, child.log.read_text()[-3000:]
    finally:
        assert worker.stop() == 0, worker.log.read_text()[-3000:]
