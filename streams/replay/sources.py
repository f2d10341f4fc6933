"""Where replayed history comes from: the input topics (a batched, group-less reader) or
JSON-lines files; and the order it is applied in.

Profiles and rosters come first (the accounts' current firmographics and contacts, as a
CRM sync before the events: both topics are compacted, so only the latest is there
anyway), then the other topics merged by event time. Each topic-partition is read in
offset order and merged lazily with the others (a k-way merge over their heads), so
memory stays at one batch per partition and one chunk, and a late event is applied where
it arrived in its own stream, as live. All topics are co-partitioned by owner, so within
one account this is event-time order across topics.

Accounts are independent of each other (nothing one decides reads another's state), so
the merge runs one partition after another, and each of its chunks is grouped by owner,
keeping every owner's own order. That changes no outcome; it is for the memory: taken in
event-time order, consecutive events belong to accounts whose states lie anywhere in a
heap of hundreds of MB, and waiting on those reads was a large share of a replay's time
(the figures are in bench/README.md).
"""

import heapq
from array import array
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError

from schemas.common import to_ms
from schemas.inputs import ErasureRequest
from streams.clients.group_lag import highwaters
from streams.clients.kafka import client_options, started
from streams.clients.produce_tail import owner_key
from streams.clients.topic_read import FETCH_RECORDS, Record, fetcher, topic_values
from streams.config import Settings
from streams.logic.inputs.decode import Coords, InputKind, Rejected
from streams.logic.inputs.records import AccountInput, CampaignSpend, decode_record
from streams.replay.engine import Item
from streams.replay.erasures import FILE as ERASURE_FILE

__all__ = [
    "Chunks",
    "Shard",
    "by_owner",
    "erasure_requests",
    "file_items",
    "merge",
    "topic_items",
]

CHUNK = 50_000
"""Items handed to the engine at once, grouped by owner: the more, the more of each
account's events are applied together (about 1 KB of memory each)."""
FIRST = (InputKind.ACCOUNTS, InputKind.CONTACTS)
"""Applied before the events, in this order."""
TIMED = (AccountInput, CampaignSpend)
"""The records that carry an event time (a profile's is its place in its stream)."""

Chunks = AsyncIterator[list[Item]]


@dataclass(frozen=True)
class Shard:
    """One of `count` processes sharing a replay: it reads partition p of every input topic
    when p % count == index. Topics are co-partitioned by owner, so each account's whole
    history is in one shard."""

    index: int
    count: int

    def holds(self, partition: int) -> bool:
        return partition % self.count == self.index


class Run:
    """One topic-partition (or file) in offset order: records fetched a batch at a time,
    decoded once into items (a rejected record keeps the previous event time)."""

    def __init__(
        self,
        kind: InputKind,
        partition: int,
        fetch: Callable[[], Awaitable[list[Record] | None]],
    ) -> None:
        self.kind = kind
        self.partition = partition
        self.fetch = fetch
        self.items: deque[Item] = deque()
        self.last = 0

    async def fill(self) -> bool:
        """Decode the next batch; False when the run is over."""
        while not self.items:
            batch = await self.fetch()
            if batch is None:
                return False
            kind, last = self.kind, self.last
            for key, value, coords in batch:
                try:
                    record = decode_record(kind, key, value)
                except Rejected as why:
                    # Kept without its traceback, whose frames hold this batch: a cycle
                    # that only a collection frees, and a replay runs without them.
                    self.items.append(Item(kind, coords, last, rejected=why.with_traceback(None)))
                    continue
                if type(record) in TIMED:
                    at = getattr(record.event, "occurred_at", None)  # type: ignore[union-attr]
                    last = to_ms(at) if at is not None else last
                self.items.append(Item(kind, coords, last, record=record, owner=record.owner))
            self.last = last
        return True


def by_owner(items: list[Item]) -> list[Item]:
    """`items` grouped by owner, each owner's in their order (a stable sort); a rejected
    record has no owner and only counts, so the rejected go first."""
    return sorted(items, key=attrgetter("owner"))


async def merge(runs: list[Run]) -> Chunks:
    """Merge runs by event time (ties in run order), in chunks grouped by owner."""
    heap: list[tuple[int, int]] = []
    for n, run in enumerate(runs):
        if await run.fill():
            heap.append((run.items[0].at, n))
    heapq.heapify(heap)
    out: list[Item] = []
    while heap:
        run = runs[heap[0][1]]
        out.append(run.items.popleft())
        if not run.items and not await run.fill():
            heapq.heappop(heap)
            continue
        heapq.heapreplace(heap, (run.items[0].at, heap[0][1]))
        if len(out) >= CHUNK:
            yield by_owner(out)
            out = []
    if out:
        yield by_owner(out)


async def _ordered(runs_of: Callable[[InputKind], list[Run]]) -> Chunks:
    for kind in FIRST:
        for run in runs_of(kind):
            while await run.fill():
                yield list(run.items)
                run.items.clear()
    others = [run for kind in InputKind if kind not in FIRST for run in runs_of(kind)]
    for partition in sorted({run.partition for run in others}):
        async for chunk in merge([run for run in others if run.partition == partition]):
            yield chunk


def file_items(
    settings: Settings, directory: Path, shard: Shard | None = None
) -> tuple[Chunks, int]:
    """Items from `{kind}.jsonl` files (any missing kind is simply absent), and how many
    there are; only the `shard`'s partitions if given. Partitions and offsets are what the
    live topics would give them; a record's time (a profile's only time) is when its file
    was written, so replays of the same files agree."""
    paths = {kind: directory / f"{kind}.jsonl" for kind in InputKind}
    present = {kind: path for kind, path in paths.items() if path.is_file()}
    if not present:
        names = ", ".join(p.name for p in paths.values())
        raise FileNotFoundError(f"{directory}: none of {names}")
    partition_of = _Partitions(settings.partitions)
    wanted = {p for p in range(settings.partitions) if shard is None or shard.holds(p)}
    # One pass finds every line's partition; the runs then skip the other partitions'
    # lines without parsing them again (a run per partition reads the file once each).
    # Lines appended after it are not replayed, as records after the high-water marks.
    index = {kind: _index(path, partition_of) for kind, path in present.items()}

    def records(kind: InputKind, partition: int) -> Iterator[Record]:
        """One partition's records: its subsequence of the file, at the offsets the topic
        would give them. A run per partition, as from the topics, so the merge (and so
        each account's order) does not depend on which other partitions are replayed."""
        topic, offset = getattr(settings.topics, kind), 0
        produced_at = int(present[kind].stat().st_mtime * 1000)
        for line, p in zip(_lines(present[kind]), index[kind], strict=False):
            if p == partition:
                yield _owner_key(line), line, Coords(topic, partition, offset, produced_at)
                offset += 1

    def runs_of(kind: InputKind) -> list[Run]:
        if kind not in present:
            return []
        return [Run(kind, p, _batches(records(kind, p))) for p in sorted(wanted)]

    total = sum(p in wanted for partitions in index.values() for p in partitions)
    return _ordered(runs_of), total


def _batches(records: Iterator[Record]) -> Callable[[], Awaitable[list[Record] | None]]:
    async def fetch() -> list[Record] | None:
        return [r for _, r in zip(range(FETCH_RECORDS), records, strict=False)] or None

    return fetch


class _Partitions:
    """The partition the producer's default partitioner gives a key, remembered per key
    (murmur2 in pure Python costs more than decoding the record)."""

    def __init__(self, partitions: int) -> None:
        self.everything = list(range(partitions))
        self.partitioner = DefaultPartitioner()
        self.known: dict[bytes | None, int] = {}

    def __call__(self, key: bytes | None) -> int:
        partition = self.known.get(key)
        if partition is None:
            partition = self.partitioner(key or b"", self.everything, self.everything)
            if len(self.known) < 1_000_000:
                self.known[key] = partition
        return partition


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        for line in f:
            if line := line.strip():
                yield line


def _index(path: Path, partition_of: _Partitions) -> "array[int]":
    """The partition of each line of `path`, in order (2 bytes a line)."""
    return array("H", (partition_of(_owner_key(line)) for line in _lines(path)))


def _owner_key(line: bytes) -> bytes | None:
    """The key `abm produce` would give the line (None for a line it would refuse)."""
    try:
        payload = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return owner_key(payload) if isinstance(payload, dict) else None


async def topic_items(settings: Settings, shard: Shard | None = None) -> tuple[Chunks, int]:
    """Items of every input topic (only the `shard`'s partitions, if given) up to the
    high-water marks at the start, and how many.

    One group-less consumer (assign + seek: nothing committed, the live group untouched)
    fetches each partition in batches as the merge needs it.
    """
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await started(consumer)
    await consumer.topics()
    tps = {
        kind: [
            TopicPartition(getattr(settings.topics, kind), p)
            for p in sorted(consumer.partitions_for_topic(getattr(settings.topics, kind)) or ())
            if shard is None or shard.holds(p)
        ]
        for kind in InputKind
    }
    every = [tp for group in tps.values() for tp in group]
    ends = await highwaters(settings, every, {}, 10.0)
    consumer.assign(every)
    await consumer.seek_to_beginning(*every)
    starts = {tp: await consumer.position(tp) for tp in every}
    total = sum(ends[tp] - starts[tp] for tp in every)

    def runs_of(kind: InputKind) -> list[Run]:
        return [Run(kind, tp.partition, fetcher(consumer, tp, ends[tp])) for tp in tps[kind]]

    async def chunks() -> Chunks:
        try:
            async for chunk in _ordered(runs_of):
                yield chunk
        finally:
            await consumer.stop()

    return chunks(), total


async def erasure_requests(settings: Settings, input_dir: Path | None) -> list[ErasureRequest]:
    """Every erasure request so far: from `erasure.jsonl` in `input_dir` if given (none if
    it is absent), else from the erasure topic up to its end now."""
    if input_dir is not None:
        path = input_dir / ERASURE_FILE
        lines = path.read_bytes().splitlines() if path.is_file() else []
        return _valid(line for line in lines if line.strip())
    return _valid(await topic_values(settings, settings.topics.erasure))


def _valid(values: Iterable[bytes | None]) -> list[ErasureRequest]:
    """The requests among `values`; a malformed one is the worker's to dead-letter."""
    requests = []
    for value in values:
        try:
            requests.append(ErasureRequest.model_validate_json(value or b""))
        except ValidationError:
            continue
    return requests
