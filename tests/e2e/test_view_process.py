"""`abm view` keeps Redis from the state changelogs, and ends equal to the ground truth.

The worker runs as by default (no --with-view) and writes only Kafka; the view processes read
its changelogs. Whatever happens to them (killed and restarted, two racing through a
hand-over, Redis lost and back empty), the view must end equal to the independent ground
truth of the history sent (tests/history.py), KPIs included.
"""

import signal
import time
from collections import Counter

from redis import Redis

from streams.dev.embedded import EmbeddedStack, free_port
from streams.dev.settle import view_holds
from streams.dev.supervise import ChildWorker, processed_records, scrape, start_view
from tests.harness import (
    ARTIFACTS,
    launch,
    pipeline_settings,
    send_rows,
    view_decisions,
    view_differences,
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
