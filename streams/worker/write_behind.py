"""State written through a cache: one changelog record per account per flush, and input
offsets acknowledged only once the changelog holds the state they produced.

Kafka Streams' record cache, for Faust. Writing a table per event costs a changelog
record per event (more than Faust's own per-event work) and leaves the order of "state
stored" and "offset committed" to Faust: its commit flushes the producer buffer but gives
up after 0.1 s without progress (`ProducerBuffer.flush_atmost`), so under a slow producer
an offset could be committed ahead of the state its event made, and a crash then lost
that event. Here agents iterate `stream.noack()`, `put` each changed state (into the
table's store at once, so reads see it) and `hold` each event; a flush (on a timer, or
when too many events wait) sends one changelog record per changed account, waits for the
broker to acknowledge them all, and only then acknowledges the held events. A crash
between two flushes loses nothing: the events are read again from the last committed
offset and re-applied to the last stored state (they de-duplicate by offset). During a
rebalance Faust waits for the held events (the flush keeps running), so a partition
leaves with its state in the changelog.

Records an agent sends on to another topic (account matching's lookups, the engagement
they find) are `forward`ed through the same flush: it waits for the broker to take them
before it stores the states, and acknowledges the events only after both.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from faust.types import EventT, TableT, TopicT

from schemas.common import RECORD_MAX_BYTES
from streams.crash_points import CrashPoints
from streams.logic.state.bounds import STATE_MAX_BYTES, UNSTORED, fitted
from streams.logic.state.roster import Roster
from streams.logic.state.state import AccountState

__all__ = ["TableReader", "TableStore", "WriteBehind"]

log = logging.getLogger(__name__)

YIELD_EVERY = 500

Forwarded = tuple[TopicT, bytes, bytes, Awaitable[Any]]
"""A record an agent sent on (topic, key, value) and its send."""


class WriteBehind:
    """Dirty states of the state tables, and the events waiting for them to be stored."""

    def __init__(
        self,
        tables: list[TableT],
        max_held: int,
        crash: CrashPoints,
        oversize: Callable[[list[str]], None] = lambda shed: None,
    ) -> None:
        self.tables = {table.name: table for table in tables}
        self.max_held = max_held
        self.crash = crash
        self.oversize = oversize
        """Told what an account's record shed to fit its bound ("unstored" when it
        could not be made to), for the metrics."""
        self.dirty: dict[tuple[str, str], tuple[int | None, Any]] = {}
        """(table, key) -> (changelog partition, state or None for a deletion), written at
        the next flush."""
        self.held: list[EventT] = []
        """Events read since the last flush, acknowledged when it has stored their state."""
        self.sending: list[Forwarded] = []
        """Records forwarded to another topic since the last flush (topic, key, value and
        the send): their events are acknowledged once the broker has them too."""
        self._lock = asyncio.Lock()

    def get(self, table: TableT, key: str) -> Any:
        """The state: the cached object if it awaits a flush (a RocksDB table would decode
        a copy), else the table's."""
        entry = self.dirty.get((table.name, key))
        return entry[1] if entry is not None else table.get(key)

    def put(self, table: TableT, key: str, state: Any, partition: int | None) -> None:
        """Keep `state` in the table's store now and send it to the changelog at the next
        flush, on the partition of the event that changed it (None, for a state no event
        changed, leaves it to the partitioner). Call it while processing that event: a
        RocksDB store picks the partition's database from the current event."""
        table.data[key] = state
        self.dirty[table.name, key] = (partition, state)
        self.crash.passed("applied")

    def delete(self, table: TableT, key: str, partition: int | None) -> None:
        """Remove `key` from the table's store now, and from the changelog (a tombstone)
        at the next flush."""
        table.data.pop(key, None)
        self.dirty[table.name, key] = (partition, None)
        self.crash.passed("applied")

    async def forward(self, topic: TopicT, key: bytes, value: bytes) -> None:
        """Send a record on, for the next flush to wait for before it acknowledges the
        events read meanwhile: what an event made for another topic is not lost with a
        crash, since the event is read again (the record may go twice: its receiver
        drops repeats by event id)."""
        sent = await topic.send(key=key, value=value)
        self.sending.append((topic, key, value, sent))

    async def _forwarded(self, sending: list[Forwarded]) -> list[Forwarded]:
        """Wait for the forwarded records; return those the producer failed."""
        results = await asyncio.gather(*(sent for *_, sent in sending), return_exceptions=True)
        return [
            entry
            for entry, result in zip(sending, results, strict=True)
            if isinstance(result, BaseException)
        ]

    async def hold(self, event: EventT) -> None:
        """Acknowledge `event` after the next flush (flushing now if too many wait)."""
        self.held.append(event)
        if len(self.held) >= self.max_held:
            await self.flush()

    async def run(self, interval_s: float) -> None:
        """Flush every `interval_s` until cancelled. Not a Faust timer: those end when the
        app starts stopping, and Faust's shutdown waits for the held events' acks."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush()
            except Exception:  # kept for the next flush; the producer reports its own errors
                log.exception("storing %d account states failed; retrying", len(self.dirty))

    async def flush(self) -> int:
        """Store every dirty state, wait for its changelog record, then ack; return how many
        events were acknowledged. Serialized: a flush waits for the one in progress."""
        async with self._lock:
            dirty, self.dirty = self.dirty, {}
            held, self.held = self.held, []
            sending, self.sending = self.sending, []
            failed: list[Forwarded] | None = None
            try:
                # Forwarded records first, then the states: an event whose state is stored
                # has had everything it sent on taken (a crash in between re-reads it from
                # the state before, and sends the same again).
                failed = await self._forwarded(sending)
                for topic, key, value, _ in failed:
                    await self.forward(topic, key, value)
                if failed:
                    raise RuntimeError(f"{len(failed)} records sent on were not taken; sent again")
                await self._store(dirty)
            except BaseException:
                for entry_key, entry in dirty.items():  # a newer put stays: it is the same object
                    self.dirty.setdefault(entry_key, entry)
                self.held[:0] = held
                if failed is None:  # not waited for: wait again at the next flush
                    self.sending[:0] = sending
                raise
            if held:
                self.crash.passed("stored")
            for event in held:
                event.ack()
            if held:
                self.crash.passed("acked")
            return len(held)

    async def _store(self, dirty: dict[tuple[str, str], tuple[int | None, Any]]) -> None:
        """Send a changelog record per entry and wait until the broker has them all."""
        sent: dict[str, list[Awaitable[Any]]] = {}
        for n, ((name, key), (partition, state)) in enumerate(dirty.items(), 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a long flush must not hold up the streams
            # Encoded now: the record is the state as of this flush, even if an event
            # changes it while the record waits in the producer.
            raw = None
            if state is not None and (raw := self._encoded(name, key, state)) is None:
                continue
            record = self.tables[name].send_changelog(
                partition,
                orjson.dumps(key),  # the table's JSON key, without faust's slow codec
                raw,
                key_serializer="raw",
                value_serializer="raw",
            )
            sent.setdefault(name, []).append(record)
        await asyncio.gather(*(self._stored(name, records) for name, records in sent.items()))

    def _encoded(self, table: str, key: str, state: AccountState | Roster) -> bytes | None:
        """The state's changelog record: an account's fitted to its bound (bounds.py), and
        None for one that still is not (logged, counted, and left unstored rather
        than refused by the producer, which would stop the worker)."""
        if not isinstance(state, AccountState):
            return state.to_json()  # rosters, people, directory entries: bounded by design
        record = fitted(state)
        if record.shed:
            log.warning(
                "%s %s: its record outgrew %d bytes; shed %s",
                table,
                key,
                STATE_MAX_BYTES,
                ", ".join(record.shed),
            )
            self.oversize(record.shed)
        if len(record.raw) <= RECORD_MAX_BYTES:
            return record.raw
        log.error(
            "%s %s: its record is %d bytes even with everything sheddable shed; NOT stored "
            "(a restart recovers its last stored record): lower its rules.limits",
            table,
            key,
            len(record.raw),
        )
        self.oversize([UNSTORED])
        return None

    async def _stored(self, table: str, records: list[Awaitable[Any]]) -> None:
        await asyncio.gather(*records)
        self.crash.passed(f"{table}-stored")


class TableReader:
    """One table read through the write-behind, as a mapping's `get`: how the decisions
    (which know no Faust) look up a roster."""

    __slots__ = ("states", "table")

    def __init__(self, states: WriteBehind, table: TableT) -> None:
        self.states = states
        self.table = table

    def get(self, key: str) -> Any:
        return self.states.get(self.table, key)


class TableStore:
    """The worker's tables as the dispatch of an input (logic/records.py) reads them:
    through the write-behind, so a state awaiting its flush is the one read."""

    __slots__ = ("_accounts", "_campaigns", "_rosters", "rosters", "states")

    def __init__(
        self, states: WriteBehind, accounts: TableT, campaigns: TableT, rosters: TableT
    ) -> None:
        self.states = states
        self._accounts = accounts
        self._campaigns = campaigns
        self._rosters = rosters
        self.rosters = TableReader(states, rosters)

    def account(self, owner: str) -> AccountState | None:
        state: AccountState | None = self.states.get(self._accounts, owner)
        return state

    def campaign(self, owner: str) -> AccountState | None:
        state: AccountState | None = self.states.get(self._campaigns, owner)
        return state

    def put_roster(self, owner: str, roster: Roster, partition: int) -> None:
        self.states.put(self._rosters, owner, roster, partition)
