"""The dashboard's HTTP pages on the worker: the page, its data, and its vendored assets.

The charting library (Chart.js) is vendored in static/ (`make vendor` fetches the pinned
release from the npm registry and checks its hash), so the page works offline.
"""

from pathlib import Path
from typing import Any

import faust
import orjson
from faust.web import Request, Response, View
from redis.asyncio import Redis
from redis.exceptions import RedisError

from streams.clients.unmatched import ProspectWatch
from streams.config import Settings
from streams.dashboard.data import LagWatch, dashboard_data

__all__ = ["register_dashboard"]

STATIC = Path(__file__).parent / "static"
ASSETS = {
    "chart.umd.min.js": "text/javascript",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}


def register_dashboard(app: faust.App, settings: Settings, redis: Redis) -> None:
    """Serve the dashboard from a worker's web server; it reads only Redis and the broker
    (lag, and the unmatched topic once a page asks for it)."""
    lag = LagWatch(settings)
    prospects = ProspectWatch(settings)
    assets = {name: (STATIC / name).read_bytes() for name in ASSETS}
    index = (STATIC / "index.html").read_bytes()

    @app.page("/dashboard")
    class Dashboard(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(index, content_type="text/html")

    @app.page("/dashboard/data")
    class DashboardData(View):
        async def get(self, request: Request) -> Response:
            try:
                data = await dashboard_data(redis, settings, lag, prospects)
            except (RedisError, OSError) as exc:
                return self.json({"error": f"cannot read the view from Redis: {exc}"}, status=503)
            return self.bytes(orjson.dumps(data), content_type="application/json")

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's handler type
    async def stop_following(app: Any, **kwargs: Any) -> None:
        await prospects.stop()

    @app.page("/dashboard/static/{name}")
    class Asset(View):
        async def get(self, request: Request, name: str) -> Response:
            if name not in assets:
                return self.json({"error": f"no asset {name!r}"}, status=404)
            return self.bytes(assets[name], content_type=ASSETS[name])
