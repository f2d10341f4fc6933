"""Reading a topic up to its end as of now, partition by partition, without a group:
what a replay, the erasure requests it applies and `abm unmatched` read.

Up to the high-water mark read at the start, not until a quiet spell: a busy topic still
ends, and a slow broker is not taken for an empty one. A partition that gives nothing
below its mark for STALL_S is an error that names it, not a hang.
"""

import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.clients.group_lag import highwaters
from streams.clients.kafka import client_options, started
from streams.config import Settings
from streams.logic.inputs.decode import Coords

__all__ = [
    "FETCH_RECORDS",
    "STALL_S",
    "Record",
    "StalledRead",
    "fetcher",
    "topic_records",
    "topic_values",
]

FETCH_RECORDS = 5000
STALL_S = 30.0

Record = tuple[bytes | None, bytes | None, Coords]


class StalledRead(RuntimeError):
    """The broker stopped giving records below the high-water mark; the message says where."""


def fetcher(
    consumer: AIOKafkaConsumer, tp: TopicPartition, end: int
) -> Callable[[], Awaitable[list[Record] | None]]:
    """The next batch of a partition the consumer is assigned, below `end`; None at it.
    StalledRead when the broker gives nothing below it for STALL_S."""

    async def fetch() -> list[Record] | None:
        progress_at = time.monotonic()
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=FETCH_RECORDS)
            records = [r for r in batch.get(tp, ()) if r.offset < end]
            if records:
                return [
                    (r.key, r.value, Coords(tp.topic, tp.partition, r.offset, r.timestamp))
                    for r in records
                ]
            if time.monotonic() - progress_at > STALL_S:
                raise StalledRead(f"{tp.topic}[{tp.partition}]: no records for {STALL_S}s")
        return None

    return fetch


async def topic_values(settings: Settings, topic: str) -> list[bytes | None]:
    """Every value of a topic up to its end now (none when it does not exist)."""
    return [value for _, value in await topic_records(settings, topic)]


async def topic_records(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) of a topic up to its end now, partition by partition (none when
    it does not exist)."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await started(consumer)
    try:
        if topic not in await consumer.topics():
            return []
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = await highwaters(settings, tps, {}, 10.0)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[tuple[bytes | None, bytes | None]] = []
        for tp in tps:
            fetch = fetcher(consumer, tp, ends[tp])
            while (batch := await fetch()) is not None:
                records += [(key, value) for key, value, _ in batch]
        return records
    finally:
        await consumer.stop()
