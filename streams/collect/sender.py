"""The producer behind `abm collect`: a request is answered 200 once the broker has
acknowledged every call it carried.

Why wait for the broker rather than answer once the calls are queued: every Segment
library keeps a call, and retries it, until it is answered 2xx, and drops it once it
is. An answer given while the call sits only in this process's memory would be a
promise a crash, a restart or an unreachable broker breaks in silence. Waiting costs
one broker round trip per request (a few milliseconds; the sending libraries do it in
the background, never in a page's or a service's way), and the producer still batches
the calls of all the requests in flight together. If the broker does not acknowledge in
`collect_ack_timeout_s`, the request is answered 503 and the sender retries; calls that
did reach the topic arrive twice, with the same messageId, which the workers drop.

The calls the broker has not acknowledged yet are counted: past
`collect_max_pending`, a request is refused (429 with Retry-After) before anything of it
is queued. A slow or unreachable broker therefore costs bounded memory, and the senders
hear of it and back off instead of piling up.
"""

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.clients.kafka import client_options, started
from streams.collect.calls import Record
from streams.config import Settings

__all__ = ["Backlogged", "Sender", "Unavailable"]

log = logging.getLogger(__name__)

LINGER_MS = 2
"""How long the producer gathers calls into one produce request: short, since each
request waits for its acknowledgement; the concurrent requests fill the batches."""
MAX_BATCH_BYTES = 256 * 1024
"""A partition's batch: hundreds of calls of a kilobyte or two, one produce request."""


class Backlogged(Exception):
    """Too many calls await the broker's acknowledgement: retry later (429)."""


class Unavailable(Exception):
    """The broker did not acknowledge the calls (refused, or too slow): retry (503)."""


class Sender:
    """Produces records to the Segment topic and waits for their acknowledgement."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topics.segment
        self.max_pending = settings.collect_max_pending
        self.timeout_s = settings.collect_ack_timeout_s
        self.producer = AIOKafkaProducer(
            **client_options(settings),
            acks="all",
            linger_ms=LINGER_MS,
            max_batch_size=MAX_BATCH_BYTES,
            # A call the broker has not taken by then was answered 503 and will be sent
            # again: expiring it then also bounds how long a stop waits on a dead broker.
            request_timeout_ms=int(settings.collect_ack_timeout_s * 1000),
        )
        self.pending = 0
        """Calls handed to the producer and not yet acknowledged (or failed)."""
        self.failures = 0
        """Calls the broker failed to take, since the start."""
        self.last_ack = 0.0
        self.last_failure = 0.0
        """Monotonic times of the last acknowledgement and the last failure (0: none)."""

    async def start(self) -> None:
        await started(self.producer)

    async def stop(self) -> None:
        """Send what is queued, then close (the server has stopped taking requests)."""
        await self.producer.stop()

    @property
    def healthy(self) -> bool:
        """False while the latest news from the broker is a failure."""
        return self.last_failure <= self.last_ack

    def _settled(self, future: "asyncio.Future[object]") -> None:
        self.pending -= 1
        if future.cancelled() or future.exception() is not None:
            self.failures += 1
            if self.healthy:
                log.warning("the broker failed to take calls: %s", _reason(future))
            self.last_failure = time.monotonic()
        else:
            if not self.healthy:
                log.warning("the broker takes calls again")
            self.last_ack = time.monotonic()

    async def send(self, records: Sequence[Record]) -> None:
        """Produce `records`, and return once the broker has acknowledged all of them.

        Backlogged: nothing was queued (a request larger than the bound is let through
        when nothing is pending, or it could never pass). Unavailable: some may have
        been; the sender's retry repeats them, and the workers drop the repeats by
        messageId."""
        count = len(records)
        if count == 0:
            return
        if self.pending and self.pending + count > self.max_pending:
            raise Backlogged(
                f"{self.pending} calls await the broker's acknowledgement "
                f"(ABM_COLLECT_MAX_PENDING={self.max_pending})"
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        futures: list[asyncio.Future[object]] = []
        self.pending += count
        try:
            async with asyncio.timeout_at(deadline):
                for record in records:
                    future = await self.producer.send(self.topic, record.value, key=record.key)
                    future.add_done_callback(self._settled)
                    futures.append(future)
        except (TimeoutError, KafkaError) as exc:
            raise self._unavailable(f"the broker did not take the calls: {exc!r}") from None
        finally:
            self.pending -= count - len(futures)
        done, waiting = await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        if waiting:
            raise self._unavailable(
                f"the broker has not acknowledged {len(waiting)} of {count} calls in "
                f"{self.timeout_s:g} s"
            )
        for future in done:
            if future.cancelled() or future.exception() is not None:
                raise Unavailable(f"the broker refused calls: {_reason(future)}")

    def _unavailable(self, reason: str) -> Unavailable:
        """A slow broker is news too: /health says so until the next acknowledgement."""
        if self.healthy:
            log.warning("%s", reason)
        self.last_failure = time.monotonic()
        return Unavailable(reason)


def _reason(future: "asyncio.Future[object]") -> str:
    return "cancelled" if future.cancelled() else repr(future.exception())
