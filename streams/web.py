"""Worker HTTP: liveness, readiness (after table recovery), metrics, an account's JSON view."""

from typing import Any

from faust.web import Request, Response, View

from streams.logic.views import account_snapshot
from streams.pipeline import Pipeline

__all__ = ["is_ready", "register_web"]

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
"""aiohttp refuses a charset inside content_type; the text format is UTF-8 by definition."""


def is_ready(p: Pipeline) -> bool:
    """Assigned partitions, recovery finished, not rebalancing: events now flow."""
    app = p.app
    if app.rebalancing or not app.tables.recovery.completed.is_set():
        return False
    return bool(app.consumer.assignment())


def register_web(p: Pipeline) -> None:
    app = p.app

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready = is_ready(p)
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
            return self.bytes(p.metrics.render(), content_type=PROMETHEUS_TEXT)

    @app.page("/accounts/{account_id}")
    class Account(View):
        async def get(self, request: Request, account_id: str) -> Response:
            state = p.accounts.get(account_id)
            if state is None:
                return self.json({"error": f"unknown account {account_id!r}"}, status=404)
            return self.json(account_snapshot(state, p.rules))
