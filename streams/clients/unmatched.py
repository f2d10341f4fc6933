"""The unmatched events, read from their topic: for `abm unmatched` (once, to its end)
and for the dashboard (followed, from a task started by the first page that asks)."""

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.common import to_ms
from schemas.outputs import UnmatchedEvent
from streams.clients.kafka import client_options, started
from streams.clients.topic_read import FETCH_RECORDS, topic_values
from streams.config import Settings
from streams.logic.identity.prospects import DAY_MS, Prospects

__all__ = ["ProspectWatch", "read_prospects", "report"]

log = logging.getLogger(__name__)

KEEP_DAYS = 90
"""The longest window the dashboard's follower keeps."""
PRUNE_EVERY_S = 3600.0


def _add(prospects: Prospects, value: bytes | None) -> None:
    try:
        record = UnmatchedEvent.model_validate_json(value or b"")
    except ValidationError:  # not ours: the topic is an output, anyone may write to it
        return
    prospects.add(
        record.event_id, record.reason, record.domain, record.person, to_ms(record.occurred_at)
    )


async def read_prospects(settings: Settings) -> Prospects:
    """Every unmatched event so far, counted."""
    prospects = Prospects()
    for value in await topic_values(settings, settings.topics.unmatched):
        _add(prospects, value)
    return prospects


def report(prospects: Prospects, days: int, limit: int | None, now_ms: int) -> dict[str, Any]:
    """What `abm unmatched --json` prints and the dashboard shows."""
    since = now_ms - (days - 1) * DAY_MS
    return {
        "days": days,
        "unmatched_events": prospects.totals(since),
        "domains": [
            {
                "domain": p.domain,
                "events": p.events,
                "people": p.people,
                "first_seen": p.first_seen,
                "last_seen": p.last_seen,
            }
            for p in prospects.top(since, limit)
        ],
    }


class ProspectWatch:
    """Follows the unmatched topic from its start, for the dashboard of one worker. It
    starts on the first request (a worker nobody looks at reads nothing) and keeps the
    last KEEP_DAYS of event time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prospects = Prospects()
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None

    def read(self, days: int, limit: int) -> dict[str, Any]:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._follow())
        return {"error": self.error, **report(self.prospects, days, limit, _now_ms())}

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _follow(self) -> None:
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # shown on the page; tried again
                self.error = f"cannot read {self.settings.topics.unmatched}: {exc}"
                log.warning("%s", self.error)
                await asyncio.sleep(5)

    async def _read(self) -> None:
        topic = self.settings.topics.unmatched
        consumer = AIOKafkaConsumer(**client_options(self.settings), enable_auto_commit=False)
        await started(consumer)
        try:
            if topic not in await consumer.topics():
                raise RuntimeError("the topic does not exist yet")
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            self.prospects, self.error = Prospects(), None
            pruned = time.monotonic()
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
                for records in batch.values():
                    for record in records:
                        _add(self.prospects, record.value)
                if time.monotonic() - pruned > PRUNE_EVERY_S:
                    self.prospects.forget_before(_now_ms() - KEEP_DAYS * DAY_MS)
                    pruned = time.monotonic()
        finally:
            await consumer.stop()


def _now_ms() -> int:
    return int(time.time() * 1000)
