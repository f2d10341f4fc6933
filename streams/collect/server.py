"""The HTTP side of `abm collect`: Segment's routes, CORS, and what each status means.

Routes, as Segment's API has them and as analytics.js (@segment/analytics-next) calls
them from a browser: `POST /v1/batch` and `/v1/b` (a batch), `/v1/track` `/v1/t`,
`/v1/page` `/v1/p`, `/v1/identify` `/v1/i`, `/v1/group` `/v1/g`, `/v1/alias` `/v1/a`,
`/v1/screen` `/v1/s` (one call; the path sets its type, as Segment's does), and
`/v1/webhook` for a Segment webhook destination (one call or a list, typed by their
own `type`). `/health` and `/metrics` are for probes and Prometheus.

Browsers send `text/plain` (a CORS-simple type) with the key in the body and, in recent
analytics.js, an `Authorization` header too, which makes the browser ask first with a
preflight `OPTIONS`: it is answered for any origin (the write key, not the origin, is
what authorizes), and every answer carries `Access-Control-Allow-Origin: *` and exposes
`Retry-After`, or analytics.js could not read a 429's delay. Any content type is read
as JSON.

Statuses, and what Segment's libraries do with each (they retry 429 and 5xx, and drop a
call on any other 4xx):

- 200 `{"success": true}`: every call the request carried was acknowledged by the
  broker, except those listed in `refused` (by index, with the reason), which will
  never be readable and are not worth a retry. Segment also answers 200 for a batch
  with bad calls in it and drops them; answering 400 instead would make the SDK drop
  the good calls with the bad.
- 400: the body is not JSON, or not a batch, or no call in it could be read
  (`refused` lists why, by index).
- 401: the write key is missing or not one of ABM_COLLECT_WRITE_KEYS.
- 413: over 32 KB for one call, 500 KB for a batch.
- 429 with Retry-After: too many calls await the broker (ABM_COLLECT_MAX_PENDING).
- 503 with Retry-After: the broker did not acknowledge in ABM_COLLECT_ACK_TIMEOUT_S.
"""

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.collect.auth import WriteKeys, basic_user, body_key
from streams.collect.body import BATCH_MAX_BYTES, CALL_MAX_BYTES, Refused, parse, read_capped
from streams.collect.calls import MAX_CALLS, Batch, Record, batch_of, prepare, relayed_calls
from streams.collect.metrics import CollectMetrics
from streams.collect.sender import Backlogged, Sender, Unavailable
from streams.config import Settings
from streams.logic.identity.segment import BadCall

__all__ = ["BATCH", "CALLS", "WEBHOOK", "Collector"]

log = logging.getLogger(__name__)

CALLS: dict[str, tuple[str, ...]] = {
    "track": ("/v1/track", "/v1/t"),
    "page": ("/v1/page", "/v1/p"),
    "identify": ("/v1/identify", "/v1/i"),
    "group": ("/v1/group", "/v1/g"),
    "alias": ("/v1/alias", "/v1/a"),
    "screen": ("/v1/screen", "/v1/s"),
}
"""One call's routes, by the type they give it: Segment's path, and analytics.js's (the
type's first letter)."""
BATCH = ("/v1/batch", "/v1/b")
WEBHOOK = "/v1/webhook"
RETRY_AFTER_BACKLOGGED_S = 2
RETRY_AFTER_UNAVAILABLE_S = 5
PREFLIGHT_MAX_AGE_S = 86_400
"""How long a browser may reuse a preflight's answer: one preflight a day per page."""
DEFAULT_ALLOWED_HEADERS = "Content-Type, Authorization, X-Retry-Count"


def _error(exc: Refused) -> web.Response:
    body: dict[str, Any] = {"success": False, "code": exc.code, "message": exc.message}
    if exc.refused is not None:
        body["refused"] = exc.refused
    response = web.json_response(body, status=exc.status)
    if exc.status == 429:
        response.headers["Retry-After"] = str(RETRY_AFTER_BACKLOGGED_S)
    elif exc.status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_S)
    return response


def _preflight(request: web.Request) -> web.Response:
    asked = request.headers.get("Access-Control-Request-Headers")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": asked or DEFAULT_ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        },
    )


class Collector:
    """The routes' handlers, over one sender."""

    def __init__(self, settings: Settings, keys: WriteKeys, sender: Sender) -> None:
        self.keys = keys
        self.sender = sender
        self.identity_key = settings.identity_key_bytes()
        self.source = settings.sources.segment
        self.metrics = CollectMetrics(lambda: sender.pending, lambda: sender.failures)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._frame])
        for kind, paths in CALLS.items():
            for path in paths:
                app.router.add_post(path, self._handler(kind))
        for path in BATCH:
            app.router.add_post(path, self._handler("batch"))
        app.router.add_post(WEBHOOK, self._handler("webhook"))
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        return app

    @web.middleware
    async def _frame(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """CORS and the JSON errors on every answer; counts and timing on the API's."""
        started = time.perf_counter()
        response: web.StreamResponse
        if request.method == "OPTIONS":
            response = _preflight(request)
        else:
            try:
                response = await handler(request)
            except Refused as exc:
                response = _error(exc)
            except web.HTTPException as exc:
                code = exc.reason.lower().replace(" ", "_")
                response = _error(Refused(exc.status, code, exc.reason))
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        if request.path.startswith("/v1/") and request.method != "OPTIONS":
            self.metrics.requests.labels(str(response.status)).inc()
            self.metrics.latency.observe(time.perf_counter() - started)
        return response

    def _handler(self, kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await self._answer(request, kind)

        return handle

    def _authorize(self, key: str | None) -> None:
        if not self.keys.accepts(key):
            what = "no write key" if key is None else "an unknown write key"
            raise Refused(
                401,
                "unauthorized",
                f"{what}: send it as HTTP Basic (the key as user name) or as `writeKey`",
            )

    async def _answer(self, request: web.Request, kind: str) -> web.Response:
        received_at = datetime.now(UTC)
        header_key = basic_user(request.headers.get("Authorization"))
        if header_key is not None:
            self._authorize(header_key)
        limit = CALL_MAX_BYTES if kind in CALLS else BATCH_MAX_BYTES
        payload = parse(await read_capped(request, limit))
        if header_key is None:
            self._authorize(body_key(payload))
        calls, batch = self._calls(kind, payload)
        records, refused = self._records(calls, batch, received_at, relayed=kind == "webhook")
        refusals = sum(r.get("calls", 1) for r in refused)
        self.metrics.calls.labels("refused").inc(refusals)
        if refused and not records:
            where = "the call" if kind in CALLS else f"batch[{refused[0]['index']}]"
            message = f"{where}: {refused[0]['reason']}"
            raise Refused(400, "bad_call", message, None if kind in CALLS else refused)
        await self._send(records)
        body: dict[str, Any] = {"success": True}
        if refused:
            body["refused"] = refused
        return web.json_response(body)

    def _calls(self, kind: str, payload: Any) -> tuple[list[Any], Batch]:
        if kind == "batch":
            return batch_of(payload)
        if kind == "webhook":
            return relayed_calls(payload), Batch()
        if not isinstance(payload, dict):
            raise Refused(400, "bad_call", "a call must be a JSON object")
        return [{**payload, "type": kind}], Batch()

    def _records(
        self, calls: list[Any], batch: Batch, received_at: datetime, *, relayed: bool
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Every call's record, and the calls refused (index, reason) in order."""
        records: list[Record] = []
        refused: list[dict[str, Any]] = []
        for index, call in enumerate(calls[:MAX_CALLS]):
            try:
                records.append(
                    prepare(
                        call,
                        batch,
                        received_at,
                        identity_key=self.identity_key,
                        source=self.source,
                        relayed=relayed,
                    )
                )
            except BadCall as exc:
                refused.append({"index": index, "reason": str(exc)})
        if (over := len(calls) - MAX_CALLS) > 0:
            refused.append(
                {
                    "index": MAX_CALLS,
                    "calls": over,
                    "reason": f"a batch holds at most {MAX_CALLS} calls: this one and the "
                    f"{over - 1} after it were not read",
                }
            )
        return records, refused

    async def _send(self, records: list[Record]) -> None:
        try:
            await self.sender.send(records)
        except Backlogged as exc:
            self.metrics.calls.labels("throttled").inc(len(records))
            raise Refused(429, "backlogged", f"{exc}: retry later") from None
        except Unavailable as exc:
            self.metrics.calls.labels("failed").inc(len(records))
            raise Refused(503, "unavailable", str(exc)) from None
        self.metrics.calls.labels("accepted").inc(len(records))

    async def _health(self, _: web.Request) -> web.Response:
        """200 while the broker takes calls; 503 while its latest answer is a failure."""
        healthy = self.sender.healthy
        body = {"status": "ok" if healthy else "failing", "pending": self.sender.pending}
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
