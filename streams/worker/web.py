"""Worker HTTP: liveness, readiness (after table recovery), metrics, an account's JSON view."""

import time
from typing import Any, cast

from faust.tables.manager import TableManager
from faust.web import Request, Response, View
from redis.exceptions import RedisError

from streams.logic.snapshot import account_snapshot
from streams.worker.context import WorkerContext
from streams.worker.metrics import Live

__all__ = ["is_ready", "register_web"]

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
"""aiohttp refuses a charset inside content_type; the text format is UTF-8 by definition."""


def is_ready(worker: WorkerContext) -> bool:
    """Assigned partitions, recovery finished, not rebalancing: events now flow."""
    app = worker.app
    if app.rebalancing or not cast(TableManager, app.tables).recovery.completed.is_set():
        return False
    return bool(app.consumer.assignment())


def live_figures(worker: WorkerContext) -> Live:
    """What /metrics reads from the worker at scrape time: lag from the consumer's own
    fetches, event-time lag from stream time, tiers from the KPI partials, readiness as
    /ready judges it."""
    live = Live(
        redis_write_errors=worker.view.errors,
        routes={sink.name: (sink.stats, sink.queue.qsize()) for sink in worker.webhooks},
        ready=is_ready(worker),
    )
    # Every partition the group reads (inputs, clock, erasure, account matching's) is
    # reported by its owner, so a partition no worker reports is one nobody owns (the lag
    # alerts rely on it).
    inputs = set(worker.settings.topics.consumed())
    for tp in worker.app.consumer.assignment():
        highwater = worker.app.consumer.highwater(tp)
        if tp.topic in inputs and highwater is not None:
            live.consumer_lag[tp.topic, tp.partition] = max(
                0, highwater - worker.read_to.get(tp, -1) - 1
            )
    now = time.time()
    live.event_time_lag_s = {part: now - at / 1000 for part, at in worker.stream_time.items() if at}
    live.tier_accounts = worker.view.tier_accounts()
    return live


def register_web(worker: WorkerContext) -> None:
    app = worker.app
    worker.metrics.watch(lambda: live_figures(worker))

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready = is_ready(worker)
            body: dict[str, Any] = {
                "ready": ready,
                "partitions": sorted(tp.partition for tp in app.consumer.assignment())
                if ready
                else [],
            }
            return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(worker.metrics.render(), content_type=PROMETHEUS_TEXT)

    @app.page("/accounts/{account_id}")
    class Account(View):
        async def get(self, request: Request, account_id: str) -> Response:
            state = worker.states.get(worker.accounts, account_id)
            if state is not None:
                return self.json(account_snapshot(state, worker.rules))
            # Another worker's partition: its snapshot in the Redis view (written by the
            # owner at its flush), so any worker answers for any account.
            try:
                key = worker.keys.account(account_id)
                stored = cast(dict[bytes, bytes], await worker.redis.hgetall(key))
            except RedisError as exc:
                return self.json({"error": f"Redis: {exc}"}, status=503)
            if not stored:
                return self.json({"error": f"unknown account {account_id!r}"}, status=404)
            return self.json({k.decode(): v.decode() for k, v in stored.items()})
