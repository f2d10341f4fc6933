"""Reading a consumer group's offsets and the logs' high-water marks from the broker.

Works whether or not a worker runs (a hung worker stops reporting its own metrics). The
high-water mark is the one a fetch reports, not `end_offsets()`: the embedded broker's
list-offsets answer is wrong after batched produce, a fetch's is right on both it and
Apache Kafka. The reader is group-less: it never joins, commits or moves the group.
"""

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from streams.clients.kafka import client_options, started
from streams.clients.partition_status import LagStatus, Sample, Samples, lag_of
from streams.config import Settings

__all__ = [
    "LagHistory",
    "LagReadError",
    "PartitionLag",
    "PartitionOffsets",
    "assigned_partitions",
    "committed_offsets",
    "group_lag",
    "highwaters",
    "read_offsets",
]


class LagReadError(RuntimeError):
    """The broker did not answer in time; the message says what was missing."""


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    topic: str
    partition: int
    sample: Sample


async def committed_offsets(
    settings: Settings, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The group's committed offset of each of `tps` that has one."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await started(admin)
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def assigned_partitions(
    settings: Settings, group: str
) -> tuple[int, set[tuple[str, int]] | None]:
    """The group's live members and the partitions assigned to them.

    The partitions are None when the broker does not report assignments (some
    Kafka-compatible brokers answer with empty ones): unknown, not unowned.
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await started(admin)
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    _error, _group, _state, _protocol_type, _protocol, members = response.groups[0]
    owned: set[tuple[str, int]] = set()
    for *_, assignment in members:
        if not assignment:
            return len(members), None
        for tp in ConsumerProtocolMemberAssignment.decode(assignment).partitions():
            owned.add((tp.topic, tp.partition))
    return len(members), owned


async def highwaters(
    settings: Settings,
    tps: list[TopicPartition],
    start: Mapping[TopicPartition, int],
    timeout_s: float,
) -> dict[TopicPartition, int]:
    """Fetch once from each partition (from the group's offset, so little is read back)."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # a group offset past the log's end (REWIND) resets here
        max_partition_fetch_bytes=4096,
        fetch_max_wait_ms=50,
    )
    await started(consumer)
    try:
        consumer.assign(tps)
        for tp in tps:
            if tp in start:
                consumer.seek(tp, start[tp])
        await consumer.seek_to_beginning(*[tp for tp in tps if tp not in start])
        deadline = time.monotonic() + timeout_s
        while (missing := [tp for tp in tps if consumer.highwater(tp) is None]) and (
            time.monotonic() < deadline
        ):
            await consumer.getmany(*missing, timeout_ms=100, max_records=1)
        if missing:
            names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in missing)
            raise LagReadError(f"no high-water mark within {timeout_s:.0f}s for {names}")
        return {tp: int(consumer.highwater(tp)) for tp in tps}
    finally:
        await consumer.stop()


async def read_offsets(
    settings: Settings, group: str, topics: Iterable[str], timeout_s: float = 10.0
) -> list[PartitionOffsets]:
    """One sample per partition of `topics`, sorted by topic and partition."""
    probe = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await started(probe)
    try:
        await probe.topics()  # loads metadata for every topic
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(probe.partitions_for_topic(topic) or ())
        ]
    finally:
        await probe.stop()
    committed = await asyncio.wait_for(committed_offsets(settings, group, tps), timeout_s)
    ends = await highwaters(settings, tps, committed, timeout_s)
    at = time.monotonic()
    return sorted(
        (
            PartitionOffsets(tp.topic, tp.partition, Sample(committed.get(tp), ends[tp], at))
            for tp in tps
        ),
        key=lambda o: (o.topic, o.partition),
    )


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    highwater: int
    lag: int
    status: LagStatus


class LagHistory:
    """Recent samples of every partition, each reading judged like everywhere else."""

    def __init__(self, settings: Settings, group: str, topics: list[str]) -> None:
        self.settings, self.group, self.topics = settings, group, topics
        self.samples: dict[tuple[str, int], Samples] = {}

    async def read(self, timeout_s: float = 10.0) -> list[PartitionLag]:
        rows = []
        for o in await read_offsets(self.settings, self.group, self.topics, timeout_s):
            s = o.sample
            status = self.samples.setdefault((o.topic, o.partition), Samples()).observe(s)
            rows.append(
                PartitionLag(o.topic, o.partition, s.committed, s.highwater, lag_of(s), status)
            )
        return rows


async def group_lag(
    settings: Settings, group: str, topics: list[str], samples: int, interval_s: float
) -> list[PartitionLag]:
    """`samples` readings `interval_s` apart, judged per partition (the last one shown)."""
    history = LagHistory(settings, group, topics)
    for _ in range(samples - 1):
        await history.read()
        await asyncio.sleep(interval_s)
    return await history.read()
