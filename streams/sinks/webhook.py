"""Alerts POSTed to a route's webhook, beside the agents and never in their way.

One sink per route (`[[routes]]`, and the default route of ABM_WEBHOOK__URL), each with
its own queue and senders, so a slow or dead destination holds up only its own route.
The agent only offers an alert to a bounded queue (no await, no I/O). A few sender tasks
drain it: sign, POST, retry transient failures (connection errors, timeouts, 429, 5xx,
and redirects, which are never followed) with exponential backoff and jitter, or after
the receiver's Retry-After when it gives one (Slack does, on 429), capped at
`max_backoff_s`. Errors name the route and its host, never the rest of its URL (a Slack
webhook's path is its token). An alert that cannot be delivered, because the
receiver refuses it, keeps failing, or is still queued when the worker stops, goes to the
dead-letter topic with the reason: counted and kept, never silently dropped.
"""

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from schemas.outputs import DeadLetterReason, SurgeAlert
from streams.config import Webhook
from streams.logic.routes import Route, default_route
from streams.sinks.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    delivery_id,
    render,
    sign,
)

__all__ = ["DeliveryStats", "GiveUp", "Settled", "WebhookSink", "retry_after_s", "shown_url"]

log = logging.getLogger(__name__)

GiveUp = Callable[[Delivery, DeadLetterReason, str], Awaitable[None]]
"""Where an undeliverable alert goes: the dead-letter topic, with reason and error."""
Settled = Callable[[str, Delivery], None]
"""Told (route name, output) once an output is done with on a route: posted, given up and
dead-lettered, or too old to post. Until then it is owed, and re-offered after a crash."""


def _nothing(route: str, item: Delivery) -> None:
    pass


class _Transient(Exception):
    """A response worth retrying: the receiver is busy or broken, not refusing us."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


_DELAY_SECONDS = re.compile(r"[0-9]{1,12}")
"""RFC 9110's delay-seconds: ASCII digits only (`str.isdigit` takes '²' too, which
`float` refuses), and few enough that the number stays finite."""


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (delay-seconds or an HTTP-date, RFC 9110);
    None when absent or unreadable (the backoff applies). Never raises: the header is the
    receiver's to write, anything at all."""
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        seconds = when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None or not math.isfinite(seconds):
        return None  # an HTTP-date is GMT; a malformed one may carry no zone
    return max(0.0, seconds)


def shown_url(url: str) -> str:
    """A route's URL as logs and dead letters may show it: scheme and host. The rest can be
    a credential (a Slack incoming webhook's path is its token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/..."


class _Refused(Exception):
    """A 4xx other than 429: retrying the same body cannot help."""


@dataclass
class DeliveryStats:
    delivered: int = 0
    retries: int = 0
    failed: int = 0
    overflowed: int = 0
    too_old: int = 0


def _happened_at(item: Delivery) -> float:
    return (item.detected_at if isinstance(item, SurgeAlert) else item.changed_at).timestamp()


class WebhookSink:
    def __init__(
        self,
        config: Webhook,
        give_up: GiveUp,
        route: Route | None = None,
        key: bytes | None = None,
        settled: Settled = _nothing,
    ) -> None:
        """A route's sink; without `route`, the default route of `config`'s url and secret.
        `config` sets the delivery policy (timeouts, retries, queue, senders, age)."""
        if route is None:
            if config.url is None or config.secret is None:
                raise ValueError("WebhookSink needs a url and a secret")
            route = default_route(str(config.url))
            key = config.secret.get_secret_value().encode()
        if not key:
            raise ValueError(f"route {route.name} needs a key to sign with")
        self.route = route
        self.url = str(route.url)
        self.secret = key
        self.config = config
        self.give_up = give_up
        self.settled = settled
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(config.queue_size)
        self.stats = DeliveryStats()
        self._session: aiohttp.ClientSession | None = None
        self._in_flight: dict[str, Delivery] = {}

    @property
    def name(self) -> str:
        return self.route.name

    def offer(self, item: Delivery) -> bool:
        """Queue an alert without waiting; False when the queue is full (caller dead-letters).

        An alert older than `max_age_s` (history being loaded) is accepted and not posted.
        """
        if time.time() - _happened_at(item) > self.config.max_age_s:
            self.stats.too_old += 1
            self.settled(self.name, item)
            return True
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.overflowed += 1
            return False
        return True

    def rewrite(self, change: Callable[[Delivery], Delivery | None]) -> int:
        """Replace each queued delivery by `change(item)`, dropping (as done) those it
        maps to None; return how many changed. For an erasure: what waits must not name
        the person, nor an account erased whole. One being posted at that moment is
        already on its way."""
        waiting = []
        while not self.queue.empty():
            waiting.append(self.queue.get_nowait())
            self.queue.task_done()
        changed = 0
        for item in waiting:
            kept = change(item)
            changed += kept is not item
            if kept is None:
                self.settled(self.name, item)
            else:
                self.queue.put_nowait(kept)
        return changed

    async def run(self) -> None:
        """The senders; runs until cancelled."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self._session = session
            await asyncio.gather(*(self._sender() for _ in range(self.config.senders)))

    async def drain(self, grace_s: float) -> None:
        """At shutdown: give queued alerts `grace_s` to go out, dead-letter the rest."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), grace_s)
        left = list(self._in_flight.values())
        while not self.queue.empty():
            left.append(self.queue.get_nowait())
        for item in left:
            self.stats.failed += 1
            await self.give_up(item, DeadLetterReason.WEBHOOK_FAILED, "worker stopped first")
            self.settled(self.name, item)

    async def _sender(self) -> None:
        """Until cancelled; nothing a receiver answers (or a bug here) ends it: an alert
        that fails in any way is counted and dead-lettered, and the next one goes."""
        while True:
            item = await self.queue.get()
            item_id = delivery_id(item)
            self._in_flight[item_id] = item
            try:
                await self._deliver(item)
                self.stats.delivered += 1
                self.settled(self.name, item)
            except Exception as exc:  # not CancelledError: a BaseException
                self.stats.failed += 1
                error = self._redacted(str(exc) or repr(exc))
                if not isinstance(exc, _Refused | _Transient | aiohttp.ClientError | TimeoutError):
                    log.exception("route %s: unexpected error posting %s", self.name, item_id)
                log.warning("route %s gave up on %s: %s", self.name, item_id, error)
                await self.give_up(item, DeadLetterReason.WEBHOOK_FAILED, error)
                self.settled(self.name, item)
            finally:
                self._in_flight.pop(item_id, None)
                self.queue.task_done()

    def _redacted(self, text: str) -> str:
        """`text` without the route's URL past its host (an error from aiohttp may quote
        it whole)."""
        parts = urlsplit(self.url)
        text = text.replace(self.url, shown_url(self.url))
        for secret in (parts.path, parts.query):
            if len(secret) > 1:
                text = text.replace(secret, "/...")
        return text

    def _wait(
        self, backoff: Callable[[RetryCallState], float]
    ) -> Callable[[RetryCallState], float]:
        """The backoff, or the receiver's Retry-After if it asks for longer (up to the cap)."""

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            asked = getattr(failure, "retry_after", None)
            waited = backoff(state)
            return waited if asked is None else min(max(asked, waited), self.config.max_backoff_s)

        return wait

    async def _deliver(self, item: Delivery) -> None:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.max_attempts),
            wait=self._wait(
                wait_exponential_jitter(
                    multiplier=self.config.backoff_s,
                    max=self.config.max_backoff_s,
                    jitter=self.config.backoff_s,
                )
            ),
            retry=retry_if_exception_type((_Transient, aiohttp.ClientError, TimeoutError)),
            reraise=True,
        )
        body = render(item, self.route.format)
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self.stats.retries += 1
                await self._post(item, body)

    async def _post(self, item: Delivery, body: bytes) -> None:
        assert self._session is not None
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            "X-ABM-Alert-Id": delivery_id(item),
            "X-ABM-Route": self.name,
        }
        # No redirects: followed, a POST becomes a GET without its body, and the 2xx at
        # the end would count an alert nobody received as delivered.
        post = self._session.post(self.url, data=body, headers=headers, allow_redirects=False)
        async with post as response:
            if response.status < 300:
                return
            detail = f"HTTP {response.status} from route {self.name}"
            if 300 <= response.status < 400:
                raise _Transient(f"{detail}: a redirect, not followed")
            if response.status == 429 or response.status >= 500:
                asked = retry_after_s(response.headers.get("Retry-After"), time.time())
                raise _Transient(detail, asked)
            raise _Refused(detail)
