"""Where replayed history comes from: the input topics (a batched, group-less reader) or
JSON-lines files; and the order it is applied in.

Profiles come first (the accounts' current firmographics, as a CRM sync before the
events), then the other topics merged by event time. Each topic-partition is read in
offset order and merged lazily with the others (a k-way merge over their heads), so
memory stays at one batch per partition, and a late event is applied where it arrived in
its own stream, as live. All topics are co-partitioned by owner, so within one account
this is event-time order across topics.
"""

import heapq
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from schemas.common import to_ms
from streams.config import Settings
from streams.io import owner_key
from streams.kafka import client_options
from streams.lag import highwaters
from streams.logic.decode import INPUT_MODELS, Coords, Rejected, decode
from streams.replay.engine import Item

__all__ = ["ReplayReadError", "file_items", "merge", "topic_items"]

FETCH_RECORDS = 5000
STALL_S = 30.0


class ReplayReadError(RuntimeError):
    """The broker stopped giving records below the high-water mark; the message says where."""


PROFILES = "accounts"


def _item(kind: str, key: bytes | None, value: bytes | None, coords: Coords, last: int) -> Item:
    try:
        event = decode(INPUT_MODELS[kind], key, value)
    except Rejected as why:
        return Item(kind, coords, last, rejected=why)
    at = getattr(event, "occurred_at", None)
    return Item(kind, coords, to_ms(at) if at is not None else last, event=event)


async def _stream(
    kind: str, records: AsyncIterator[tuple[bytes | None, bytes | None, Coords]]
) -> AsyncIterator[Item]:
    """Decoded items of one topic-partition; a rejected record keeps the previous time."""
    last = 0
    async for key, value, coords in records:
        item = _item(kind, key, value, coords, last)
        last = item.at
        yield item


async def merge(streams: list[AsyncIterator[Item]]) -> AsyncIterator[Item]:
    """Lazily merge streams by event time (ties in stream order)."""
    heap: list[tuple[int, int, Item]] = []
    for n, stream in enumerate(streams):
        if (head := await anext(stream, None)) is not None:
            heap.append((head.at, n, head))
    heapq.heapify(heap)
    while heap:
        _at, n, item = heap[0]
        yield item
        if (head := await anext(streams[n], None)) is not None:
            heapq.heapreplace(heap, (head.at, n, head))
        else:
            heapq.heappop(heap)


async def _ordered(streams_of: Callable[[str], list[AsyncIterator[Item]]]) -> AsyncIterator[Item]:
    for item_stream in streams_of(PROFILES):
        async for item in item_stream:
            yield item
    others = [s for kind in INPUT_MODELS if kind != PROFILES for s in streams_of(kind)]
    async for item in merge(others):
        yield item


def file_items(settings: Settings, directory: Path) -> tuple[AsyncIterator[Item], int]:
    """Items from `{kind}.jsonl` files (any missing kind is simply absent), and how many
    lines there are. Partitions and offsets are what the live topics would give them."""
    paths = {kind: directory / f"{kind}.jsonl" for kind in INPUT_MODELS}
    present = {kind: path for kind, path in paths.items() if path.is_file()}
    if not present:
        names = ", ".join(p.name for p in paths.values())
        raise FileNotFoundError(f"{directory}: none of {names}")
    partitioner, everything = DefaultPartitioner(), list(range(settings.partitions))
    produced_at = int(time.time() * 1000)  # a profile's record time is when it was sent

    async def lines(kind: str) -> AsyncIterator[tuple[bytes | None, bytes, Coords]]:
        """The file in its order: each partition's records are a subsequence of it, so one
        stream per file keeps every account's order while reading the file once."""
        topic, offsets = getattr(settings.topics, kind), dict.fromkeys(everything, 0)
        with present[kind].open("rb") as f:
            for line in f:
                if not (line := line.strip()):
                    continue
                key = _owner_key(line)
                partition = partitioner(key or b"", everything, everything)
                yield key, line, Coords(topic, partition, offsets[partition], produced_at)
                offsets[partition] += 1

    def streams_of(kind: str) -> list[AsyncIterator[Item]]:
        return [_stream(kind, lines(kind))] if kind in present else []

    return _ordered(streams_of), sum(_count_lines(p) for p in present.values())


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _owner_key(line: bytes) -> bytes | None:
    """The key `abm produce` would give the line (None for a line it would refuse)."""
    try:
        payload = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return owner_key(payload) if isinstance(payload, dict) else None


async def topic_items(settings: Settings) -> tuple[AsyncIterator[Item], int]:
    """Items of every input topic up to the high-water marks at the start, and how many.

    One group-less consumer (assign + seek: nothing committed, the live group untouched)
    fetches each partition in batches as the merge needs it.
    """
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    await consumer.topics()
    tps = {
        kind: [
            TopicPartition(getattr(settings.topics, kind), p)
            for p in sorted(consumer.partitions_for_topic(getattr(settings.topics, kind)) or ())
        ]
        for kind in INPUT_MODELS
    }
    every = [tp for group in tps.values() for tp in group]
    ends = await highwaters(settings, every, {}, 10.0)
    consumer.assign(every)
    await consumer.seek_to_beginning(*every)
    starts = {tp: await consumer.position(tp) for tp in every}
    total = sum(ends[tp] - starts[tp] for tp in every)

    async def records(
        tp: TopicPartition,
    ) -> AsyncIterator[tuple[bytes | None, bytes | None, Coords]]:
        buffer: deque = deque()
        progress_at = time.monotonic()
        while True:
            if not buffer:
                if await consumer.position(tp) >= ends[tp]:
                    return
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=FETCH_RECORDS)
                buffer.extend(batch.get(tp, ()))
                if buffer:
                    progress_at = time.monotonic()
                elif time.monotonic() - progress_at > STALL_S:
                    raise ReplayReadError(f"{tp.topic}[{tp.partition}]: no records for {STALL_S}s")
                continue
            r = buffer.popleft()
            if r.offset >= ends[tp]:
                return
            yield r.key, r.value, Coords(tp.topic, tp.partition, r.offset, r.timestamp)

    def streams_of(kind: str) -> list[AsyncIterator[Item]]:
        return [_stream(kind, records(tp)) for tp in tps[kind]]

    async def items() -> AsyncIterator[Item]:
        try:
            async for item in _ordered(streams_of):
                yield item
        finally:
            await consumer.stop()

    return items(), total
