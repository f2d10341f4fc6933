"""`abm view` keeps Redis from the state changelogs, and ends equal to the ground truth.

The worker runs with ABM_WORKER_VIEW=false and writes only Kafka; the view processes read
its changelogs. Whatever happens to them (killed and restarted, two racing through a
hand-over, Redis lost and back empty), the view must end equal to the independent ground
truth of the history sent (tests/history.py), KPIs included.
"""

import signal
import time

from redis import Redis

from streams.dev.embedded import EmbeddedStack, free_port
from streams.dev.supervise import ChildWorker, processed_records, start_view
from tests.harness import ARTIFACTS, launch, pipeline_settings, send_rows, view_differences
from tests.history import DAY, generate

END = int(time.time() * 1000) - DAY
ROWS = generate(5, accounts=40, days=45, end=END)
THIRD = len(ROWS) // 3


def view(env: dict[str, str], name: str) -> ChildWorker:
    child = start_view(env, ARTIFACTS / f"{name}.log")
    child.wait_ready(90)
    return child


def settle(settings, rows: list, timeout: float = 90) -> list[str]:
    """Poll until the view equals the ground truth of `rows` (or time runs out); the
    differences left."""
    deadline = time.monotonic() + timeout
    while (differences := view_differences(settings, rows)) and time.monotonic() < deadline:
        time.sleep(1)
    return differences


def settings_for(stack: EmbeddedStack):
    return pipeline_settings(
        stack, clock="event", kpi_interval_s=0.5, worker_view="false", view_port=free_port()
    )


def test_the_worker_writes_no_view_and_view_processes_end_equal_to_the_truth(stack):
    settings, env = settings_for(stack)
    worker = launch(settings, env, "view-worker")
    views: list[ChildWorker] = []
    try:
        send_rows(settings, ROWS[:THIRD])
        deadline = time.monotonic() + 60
        while processed_records(settings.web_port) < THIRD and time.monotonic() < deadline:
            time.sleep(0.2)
        redis = Redis.from_url(settings.redis_url)
        assert not redis.keys(f"{settings.redis_prefix}*"), "the worker wrote to Redis"

        views.append(view(env, "view-a"))
        assert not (differences := settle(settings, ROWS[:THIRD])), "\n".join(differences[:20])

        # Killed without a word, history moves on, a new one starts: it reads it all.
        views[0].stop(signal.SIGKILL)
        send_rows(settings, ROWS[THIRD : 2 * THIRD])
        views.append(view(env, "view-b"))
        assert not (differences := settle(settings, ROWS[: 2 * THIRD])), "\n".join(differences[:20])

        # A second joins (the partitions are split), events flow, the first leaves.
        views.append(view(env, "view-c"))
        send_rows(settings, ROWS[2 * THIRD :])
        assert views[1].stop() == 0, views[1].log.read_text()[-3000:]
        assert not (differences := settle(settings, ROWS)), "\n".join(differences[:20])
    finally:
        for child in views:
            child.stop()
        assert worker.stop() == 0, worker.log.read_text()[-3000:]


def test_the_view_is_rebuilt_when_redis_returns_empty():
    with EmbeddedStack() as stack:
        settings, env = settings_for(stack)
        worker = launch(settings, env, "view-outage-worker")
        child = view(env, "view-outage")
        try:
            send_rows(settings, ROWS[: len(ROWS) // 2])
            assert not (differences := settle(settings, ROWS[: len(ROWS) // 2])), "\n".join(
                differences[:20]
            )
            stack.stop_redis()
            send_rows(settings, ROWS[len(ROWS) // 2 :])  # read while Redis is away
            time.sleep(2)  # the outage: the view retries with backoff meanwhile
            assert child.proc.poll() is None
            stack.start_redis()
            assert not (differences := settle(settings, ROWS)), "\n".join(differences[:20])
        finally:
            assert child.stop() == 0, child.log.read_text()[-3000:]
            assert worker.stop() == 0, worker.log.read_text()[-3000:]
