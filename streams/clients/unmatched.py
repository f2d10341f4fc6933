"""The unmatched events, read from their topic: for `abm unmatched` (once, to its end)
and for the dashboard (followed, from a task started by the first page that asks). A
domain an account claims since is left out: the directory's changelog says which, and
its events were matched when the account claimed it."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.common import to_ms
from schemas.outputs import UnmatchedEvent
from streams.clients.kafka import client_options, started
from streams.clients.topic_read import FETCH_RECORDS, topic_records, topic_values
from streams.config import DIRECTORY_TABLE, Settings
from streams.logic.identity.directory import Entry
from streams.logic.identity.match import domain_key
from streams.logic.identity.prospects import DAY_MS, Prospects

__all__ = ["ProspectWatch", "read_prospects", "report"]

log = logging.getLogger(__name__)

DOMAIN = domain_key("")
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


def _claim(claimed: set[str], key: bytes | None, value: bytes | None) -> None:
    """Follow the directory's changelog: which domains an account claims now."""
    try:
        name = orjson.loads(key or b"null")
    except orjson.JSONDecodeError:
        return
    if not isinstance(name, str) or not name.startswith(DOMAIN):
        return
    if value is not None and Entry.from_json(value).account is not None:
        claimed.add(name.removeprefix(DOMAIN))
    else:
        claimed.discard(name.removeprefix(DOMAIN))


async def read_prospects(settings: Settings) -> tuple[Prospects, set[str]]:
    """Every unmatched event so far, counted; and the domains accounts claim now (their
    events were matched when they did)."""
    prospects, claimed = Prospects(), set[str]()
    for value in await topic_values(settings, settings.topics.unmatched):
        _add(prospects, value)
    for key, value in await topic_records(settings, settings.changelog(DIRECTORY_TABLE)):
        _claim(claimed, key, value)
    return prospects, claimed


def report(
    prospects: Prospects,
    days: int,
    limit: int | None,
    now_ms: int,
    claimed: Collection[str] = (),
) -> dict[str, Any]:
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
            for p in prospects.top(since, limit, claimed)
        ],
    }


class ProspectWatch:
    """Follows the unmatched topic from its start, for the dashboard of one worker. It
    starts on the first request (a worker nobody looks at reads nothing) and keeps the
    last KEEP_DAYS of event time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prospects = Prospects()
        self.claimed: set[str] = set()
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None

    def read(self, days: int, limit: int) -> dict[str, Any]:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._follow())
        found = report(self.prospects, days, limit, _now_ms(), self.claimed)
        return {"error": self.error, **found}

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
        unmatched = self.settings.topics.unmatched
        directory = self.settings.changelog(DIRECTORY_TABLE)
        consumer = AIOKafkaConsumer(**client_options(self.settings), enable_auto_commit=False)
        await started(consumer)
        try:
            present = await consumer.topics()
            if unmatched not in present:
                raise RuntimeError("the topic does not exist yet")
            tps = [
                TopicPartition(topic, p)
                for topic in (unmatched, directory)
                if topic in present
                for p in consumer.partitions_for_topic(topic) or ()
            ]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            self.prospects, self.claimed, self.error = Prospects(), set(), None
            pruned = time.monotonic()
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
                for tp, records in batch.items():
                    for record in records:
                        if tp.topic == unmatched:
                            _add(self.prospects, record.value)
                        else:
                            _claim(self.claimed, record.key, record.value)
                if time.monotonic() - pruned > PRUNE_EVERY_S:
                    self.prospects.forget_before(_now_ms() - KEEP_DAYS * DAY_MS)
                    pruned = time.monotonic()
        finally:
            await consumer.stop()


def _now_ms() -> int:
    return int(time.time() * 1000)
