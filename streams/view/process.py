"""The view process: a batched consumer of the state changelogs and the output topics.

What it reads, in one consumer group (`{app_id}-view`), co-partitioned by account:

- the accounts, campaigns and rosters changelogs, always from the start of each partition
  it is given: the latest record per key is the state, so reading them whole rebuilds the
  view (and the KPI partials) exactly, whatever Redis held before;
- the surge-alert and tier-change topics from the group's committed offsets, for the two
  capped streams (an alert enters once per alert_id however often it is read);
- the erasure requests, from the start like the changelogs: the topics and changelogs
  still hold what was written before an erasure, so what is written to Redis is checked
  against every erasure read (streams/logic/state/erasure.py `Erasures`), and what is already
  there is purged once a request, or an erased account's last record, is read.

Account writes wait until every partition is read to its end (the high-water mark the
fetch reported): a restarted view does not show older states on its way to the newest.
Then every `ABM_REDIS_FLUSH_INTERVAL_S` it writes the accounts changed since the last
flush, one record per account however many the changelog held, through RedisView (the
same fenced writes a worker makes: a view process that takes partitions over gets a new
epoch, and the writes of one that lost them are refused). Redis found empty (its sentinel
gone) or a rebalance: everything is read again from the start.
"""

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Iterable

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from redis.exceptions import RedisError

from schemas.inputs import ErasureRequest
from schemas.outputs import SurgeAlert, TierChange
from streams.clients.admin import ensure_topics
from streams.clients.kafka import client_options
from streams.clients.redis_keys import ERASURE_TTL_S
from streams.config import ACCOUNTS_TABLE, CAMPAIGNS_TABLE, ROSTERS_TABLE, TABLES, Settings
from streams.logic.state.erasure import Erasures
from streams.logic.state.roster import Roster
from streams.logic.state.state import AccountState
from streams.logic.state.ticks import advance
from streams.sinks.redis_view import RedisView
from streams.view.metrics import ViewMetrics

__all__ = ["ViewProcess", "run_view"]

log = logging.getLogger(__name__)

BATCH_RECORDS = 5_000


class ViewProcess(ConsumerRebalanceListener):
    """One view process; `run` until `stop` is set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tables = {settings.changelog(table): table for table in TABLES}
        topics = settings.topics
        self.outputs = {topics.surge_alerts: "alerts", topics.tier_changes: "changes"}
        self.reread = {*self.tables, topics.erasure}
        """Topics read from their start at every assignment."""
        self.erasures = Erasures(settings.erasure_key_bytes())
        self.purge_due = False
        """Whether Redis may hold something an erasure read since the last purge concerns."""
        self.unconfirmed: dict[str, ErasureRequest] = {}
        """Requests read whose application `abm forget` has not been told of yet."""
        self.tombstoned: set[str] = set()
        """Accounts whose state was deleted since the changelogs were last read whole."""
        self.records: dict[str, bytes] = {}
        """Account -> its latest state record (decoded when written: an account changed by
        many records between two flushes is decoded once)."""
        self.rosters: dict[str, Roster] = {}
        self.clocks: dict[int, int] = {}
        self.view = RedisView(
            settings, settings.rules, self._load, clocks=self.clocks, rosters=self.rosters
        )
        self.consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=f"{settings.app_id}-view",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
        )
        self.catching_up: set[TopicPartition] = set()
        self.pending: list[int] = []
        """Changelog timestamps (ms) of records read since the last complete flush."""
        self.written_at: dict[TopicPartition, int] = {}
        """Changelog positions whose records the last complete flush wrote (reported once
        the KPI hashes are published too)."""
        self.rebuilt_at_ms = 0.0
        """When the changelogs were last read from their start: older records are history
        being re-read, not lag."""
        self.metrics = ViewMetrics()
        self.failing = False
        """Whether the last flush failed unexpectedly: not ready until one succeeds."""
        self._readers: dict[str, Callable[[ConsumerRecord], None]] = {
            ACCOUNTS_TABLE: self._account,
            CAMPAIGNS_TABLE: self._campaign,
            ROSTERS_TABLE: self._roster,
            "erasures": self._erasure,
            "alerts": self._alert,
            "changes": self._change,
        }

    def _load(self, account_id: str) -> AccountState | None:
        raw = self.records.get(account_id)
        if raw is None:
            return None
        state = AccountState.from_json(raw)
        advance(self.clocks, state.partition, state.clock)
        self.erasures.scrub_state(state)
        return state

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Nothing of the state to hand over: the next owner reads the changelogs from their
        start. Alerts and changes read since the last flush are dropped, not written: their
        next owner reads them again from the offsets that flush committed (every partition
        is revoked at a rebalance)."""
        self.view.alerts.clear()
        self.view.changes.clear()

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._rebuild([tp for tp in assigned if tp.topic in self.reread])

    async def _rebuild(self, changelogs: list[TopicPartition]) -> None:
        """Forget everything and read the changelog and erasure partitions we own from
        their start."""
        accounts = self.settings.changelog(ACCOUNTS_TABLE)
        self.records.clear()
        self.rosters.clear()
        self.clocks.clear()
        self.pending.clear()
        self.erasures.clear()
        self.unconfirmed.clear()
        self.tombstoned.clear()
        self.purge_due = True  # a previous owner may have mirrored what was erased
        self.rebuilt_at_ms = time.time() * 1000
        view = self.view
        view.dirty.clear()
        view.removed.clear()
        view.campaigns.clear()
        view.kpis.reset(sorted(tp.partition for tp in changelogs if tp.topic == accounts))
        self.written_at = {}
        self.metrics.written_offset.clear()
        self.catching_up = set(changelogs)
        self.metrics.catching_up.set(len(changelogs))
        if changelogs:
            await self.consumer.seek_to_beginning(*changelogs)

    def apply(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        """Queue what a batch of one partition changes in the view. A record that cannot
        be read is logged, counted and skipped: one bad record must not stop the view."""
        source = self.tables.get(tp.topic) or self.outputs.get(tp.topic) or "erasures"
        self.metrics.records.labels(source).inc(len(records))
        take = self._readers[source]
        for r in records:
            try:
                take(r)
            except Exception:
                self.metrics.unreadable.labels(source).inc()
                log.exception("skipping an unreadable record of %s at %d", tp, r.offset)

    def _account(self, r: ConsumerRecord) -> None:
        account_id = orjson.loads(r.key)
        if r.value is None:
            self.records.pop(account_id, None)
            self.view.remove(account_id, r.partition)
            self.purge_due |= self.erasures.concerns(account_id)
            self.tombstoned.add(account_id)
        else:
            self.records[account_id] = r.value
            self.view.mark_id(account_id)
        self.pending.append(r.timestamp)

    def _campaign(self, r: ConsumerRecord) -> None:
        if r.value is None:
            self.view.kpis.withdraw(f"#{orjson.loads(r.key)}")
            return
        state = AccountState.from_json(r.value)
        advance(self.clocks, state.partition, state.clock)
        self.view.mark_campaign(state)

    def _roster(self, r: ConsumerRecord) -> None:
        account_id = orjson.loads(r.key)
        if r.value is None:
            self.rosters.pop(account_id, None)
        else:
            self.rosters[account_id] = Roster.from_json(r.value)
        if account_id in self.records:  # its KPIs count engaged contacts by persona
            self.view.mark_id(account_id)

    def _erasure(self, r: ConsumerRecord) -> None:
        try:
            request = ErasureRequest.model_validate_json(r.value or b"")
        except ValidationError:
            return  # the worker dead-letters it
        account_id = request.account_id
        self.erasures.add(account_id, request.person())
        self.unconfirmed[request.request_id] = request
        if request.person() is not None and account_id in self.records:
            self.view.mark_id(account_id)  # written again, without them
        self.purge_due = True

    def _alert(self, r: ConsumerRecord) -> None:
        alert = SurgeAlert.model_validate_json(r.value)
        held = alert.account_id in self.records
        if (kept := self.erasures.alert(alert, held)) is not None:
            self.view.alert(kept)

    def _change(self, r: ConsumerRecord) -> None:
        change = TierChange.model_validate_json(r.value)
        if not self.erasures.dropped(change.account_id, change.account_id in self.records):
            self.view.change(change)

    async def _purge(self) -> None:
        """Delete the stream entries an erasure read so far keeps out of Redis."""
        erasures, records, keys = self.erasures, self.records, self.view.keys

        def alert_gone(fields: dict[bytes, bytes]) -> bool:
            account_id = fields[b"account_id"].decode()
            if not erasures.concerns(account_id):
                return False
            alert = SurgeAlert.model_validate_json(fields[b"alert"])
            return erasures.gone(alert, account_id in records)

        def change_gone(fields: dict[bytes, bytes]) -> bool:
            account_id = fields[b"account_id"].decode()
            return erasures.dropped(account_id, account_id in records)

        if erasures:
            await self.view.drop_entries(keys.alerts, alert_gone)
            await self.view.drop_entries(keys.changes, change_gone)

    async def _confirm(self) -> None:
        """Tell `abm forget` of the requests Redis now reflects: a person's at once (what
        is written is scrubbed of them); an account's once its state's deletion is read
        (until then a state from before the erasure may be shown)."""
        done = [
            r
            for r in self.unconfirmed.values()
            if r.person() is not None
            or r.account_id in self.tombstoned
            or r.account_id not in self.records
        ]
        if not done:
            return
        pipe = self.view.redis.pipeline(transaction=False)
        for request in done:
            pipe.set(self.view.keys.erasure_viewed(request.request_id), "1", ex=ERASURE_TTL_S)
        await pipe.execute()
        for request in done:
            del self.unconfirmed[request.request_id]

    def ready(self) -> bool:
        return bool(self.consumer.assignment()) and not self.catching_up and not self.failing

    async def _caught_up(self) -> bool:
        for tp in list(self.catching_up):
            end = self.consumer.highwater(tp)
            if end is not None and await self.consumer.position(tp) >= end:
                self.catching_up.discard(tp)
        self.metrics.catching_up.set(len(self.catching_up))
        return not self.catching_up

    async def flush(self) -> None:
        """Write what changed (once every owned partition has been read to its end), then
        commit the output topics' offsets that the written streams now hold."""
        if not await self._caught_up():
            return
        view = self.view
        if view.lost:  # Redis came back empty: read it all again
            view.lost = False
            owned = self.consumer.assignment()
            await self._rebuild([tp for tp in owned if tp.topic in self.reread])
            return
        positions = {tp: await self.consumer.position(tp) for tp in self.consumer.assignment()}
        pending, self.pending = self.pending, []
        await view.flush_all()
        if self.purge_due and not view.lost:
            try:
                await self._purge()
                self.purge_due = False
            except (RedisError, OSError) as exc:
                log.warning("purging erased entries from redis failed (%s); retrying", exc)
        if view.lost or view.dirty or view.removed or view.alerts or view.changes or self.purge_due:
            self.pending[:0] = pending  # Redis failed (later), or came back empty (rebuild)
            self.metrics.written_offset.clear()
            return
        self.written_at = {tp: at for tp, at in positions.items() if tp.topic in self.tables}
        if self.unconfirmed:
            try:
                await self._confirm()
            except (RedisError, OSError) as exc:
                log.warning("confirming erasures in redis failed (%s); retrying", exc)
        now_ms = time.time() * 1000
        self.metrics.written.inc(len(pending))
        for at in pending:
            if at >= self.rebuilt_at_ms:
                self.metrics.lag.observe(max(0.0, now_ms - at) / 1000)
        self.metrics.flushes.inc()
        await view.publish_kpis(self.settings.kpi_interval_s)
        if view.kpis.all_published:
            for tp, at in self.written_at.items():
                self.metrics.written_offset.labels(tp.topic, str(tp.partition)).set(at)
        if outputs := {tp: at for tp, at in positions.items() if tp.topic in self.outputs}:
            try:
                await self.consumer.commit(outputs)
            except (CommitFailedError, IllegalStateError) as exc:  # a rebalance meanwhile
                log.info("output offsets not committed (%s): their next owner reads them", exc)

    async def _flush_or_count(self) -> None:
        """Flush; an unexpected failure is logged, counted and tried again at the next
        round (what was not written stays marked), and /ready says so meanwhile."""
        try:
            await self.flush()
        except Exception:
            self.failing = True
            self.metrics.flush_errors.inc()
            log.exception("flushing the view failed; it runs again at its next round")
        else:
            self.failing = False

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self.consumer
        await ensure_topics(self.settings, [*self.reread, *self.outputs])
        await consumer.start()
        try:
            consumer.subscribe([*self.reread, *self.outputs], listener=self)
            interval = self.settings.redis_flush_interval_s
            flushed_at = time.monotonic()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=BATCH_RECORDS)
                for tp, records in batch.items():
                    self.apply(tp, records)
                if time.monotonic() - flushed_at >= interval:
                    flushed_at = time.monotonic()
                    await self._flush_or_count()
            await self.flush()
        finally:
            await consumer.stop()
            await self.view.close()


async def serve(process: ViewProcess, host: str, port: int) -> web.AppRunner:
    """/ready (assigned partitions, each read to its end) and /metrics, as a worker has."""

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ready": process.ready()})

    async def metrics(_: web.Request) -> web.Response:
        process.metrics.show_tiers(process.view.kpis.rollup.tier_accounts())
        body = generate_latest(process.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run_view(settings: Settings) -> None:
    """Run one view process until SIGINT or SIGTERM."""
    process = ViewProcess(settings)
    port = settings.view_port
    runner = await serve(process, settings.web_host, port) if port else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await process.run(stop)
    finally:
        if runner is not None:
            await runner.cleanup()
