"""Redis goes away mid-stream and comes back empty: processing goes on, the view comes back.

The test runs its own embedded stack (it stops that Redis). Events keep flowing while
Redis is down; when it returns with nothing in it, the worker notices (its sentinel key is
gone), rewrites every account and recounts every KPI partial from table state.
"""

import time

from streams.dev.embedded import EmbeddedStack
from tests.harness import launch, pipeline_settings, send_rows, view_differences
from tests.history import DAY, generate

END = int(time.time() * 1000) - DAY
ROWS = generate(9, accounts=40, days=45, end=END)


def test_the_view_is_rebuilt_when_redis_returns_empty():
    with EmbeddedStack() as stack:
        settings, env = pipeline_settings(stack, clock="event", kpi_interval_s=0.5)
        worker = launch(settings, env, "redis-outage")
        try:
            half = len(ROWS) // 2
            send_rows(settings, ROWS[:half])
            stack.stop_redis()
            send_rows(settings, ROWS[half:])  # processed while Redis is away
            time.sleep(3)  # the outage: the worker retries with backoff meanwhile
            assert worker.child.proc.poll() is None
            stack.start_redis()
            deadline = time.monotonic() + 60
            while (differences := view_differences(settings, ROWS)) and (
                time.monotonic() < deadline
            ):
                time.sleep(1)
            assert not differences, "\n".join(differences[:20])
        finally:
            assert worker.stop() == 0
