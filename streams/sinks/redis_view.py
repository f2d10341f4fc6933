"""The Redis materialised view of account state: batched, absolute, and re-synced after outages.

Agents only mark an account dirty (a dict assignment) or queue an alert; a timer turns
them into one pipelined batch. Redis round-trips never sit in the per-event path, a failed
batch is put back (newer marks win), and every write is idempotent: a hash is rewritten
whole, the surge rank is set from state, and an alert enters the capped stream only once
per alert_id however often it is redelivered.

Account writes are fenced like the KPI partials (kpi_view.py): each carries the epoch its
worker holds for the account's partition, and Redis refuses it once another worker has
taken the partition over, so a worker still flushing while it shuts down cannot leave an
account's hash or rank older than the new owner's. The KPI flush therefore goes first:
it is where a worker gets its epochs.
"""

import logging
import time
from collections.abc import Callable
from itertools import islice

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, WatchError

from schemas.outputs import SurgeAlert, TierChange
from streams.clients.redis import async_redis, stream_entries
from streams.clients.redis_keys import RedisKeys
from streams.config import Settings
from streams.logic.kpis.kpis import contribution, spend_contribution
from streams.logic.rules import Rules
from streams.logic.snapshot import account_snapshot
from streams.logic.state.erasure import Erased, names
from streams.logic.state.roster import NO_ROSTERS, Rosters
from streams.logic.state.state import AccountState
from streams.sinks.kpi_view import KpiView

__all__ = ["RedisView"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
BATCH = 1000
"""Accounts (and alerts) written in one pipeline."""
CHANGES_MAXLEN = 1000
REWRITE_ATTEMPTS = 5
"""Recent tier changes kept in Redis for people (the topic is the record for systems)."""
ALERT_MEMORY_S = 7 * 86_400
"""How long an alert_id is remembered: far longer than any redelivery takes."""

_WRITE_ACCOUNT = """
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
for i = 3, 4 do
  local score = tonumber(ARGV[i + 1])
  if score > 0 then
    redis.call('ZADD', KEYS[i], score, ARGV[3])
  else
    redis.call('ZREM', KEYS[i], ARGV[3])
  end
end
return 1
"""
"""Rewrite one account's hash and its two ranks, only under the KPI epoch its partition's
owner holds (KEYS: owner hash, account hash, surge rank, engagement rank; ARGV: partition,
epoch, account id, surge score, engagement score, then the hash's fields and values)."""

_REMOVE_ACCOUNT = """
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[3])
return 1
"""
"""Delete one account's hash and rank entries, under the same fence as a write (KEYS as
_WRITE_ACCOUNT's first four; ARGV: partition, epoch, account id)."""

_ADD_ALERT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
             'alert_id', ARGV[3], 'account_id', ARGV[4], 'kind', ARGV[5], 'alert', ARGV[6])
  return 1
end
return 0
"""


Load = Callable[[str], AccountState | None]


def _touches(alert: SurgeAlert, erased: Erased | None) -> bool:
    """Whether an erasure (of `erased`, or None: the whole account) touches this alert."""
    return erased is None or names(alert, erased)


class RedisView:
    def __init__(
        self,
        settings: Settings,
        rules: Rules,
        load: Load | None = None,
        clocks: dict[int, int] | None = None,
        rosters: Rosters = NO_ROSTERS,
    ) -> None:
        """`load` reads an account's current state (for accounts marked by id), `clocks`
        is the worker's stream time per partition (published with the KPI partials),
        `rosters` the accounts' rosters (the KPIs count engaged contacts by persona)."""
        self.redis: Redis = async_redis(settings, socket_timeout=5)
        self.keys = RedisKeys(settings.redis_prefix)
        self.rules = rules
        self.stream_maxlen = settings.alerts_stream_maxlen
        self.dirty: dict[str, AccountState | None] = {}
        """Accounts to rewrite: their state, or None to `load` it at the flush."""
        self.removed: dict[str, int | None] = {}
        """Accounts to delete from the view, with their partition (for the fence)."""
        self.load: Load = load or (lambda account_id: None)
        self.rosters = rosters
        self.campaigns: dict[str, AccountState] = {}
        self.alerts: list[SurgeAlert] = []
        self.changes: list[TierChange] = []
        self.kpis = KpiView(settings, rules, clocks)
        self._add_alert_once = self.redis.register_script(_ADD_ALERT_ONCE)
        self._write_account = self.redis.register_script(_WRITE_ACCOUNT)
        self._remove_account = self.redis.register_script(_REMOVE_ACCOUNT)
        self.errors = 0
        self.lost = False
        """Redis no longer holds our view (it restarted empty): the owner must re-sync."""
        self._backoff_s = 0.0
        self._retry_at = 0.0
        self.busy_interval_s = settings.redis_flush_busy_interval_s
        self.flushed_at = 0.0
        """When the last flush began (monotonic seconds)."""

    def mark(self, state: AccountState) -> None:
        self.dirty[state.account_id] = state
        if self.removed:  # removed, then made afresh by a later event: write, not delete
            self.removed.pop(state.account_id, None)

    def remove(self, account_id: str, partition: int | None) -> None:
        """The account is gone: delete its hash and rank entries, withdraw its KPIs."""
        self.dirty.pop(account_id, None)
        self.removed[account_id] = partition
        self.kpis.withdraw(account_id)

    async def erase(self, account_id: str, erased: Erased | None) -> int:
        """Delete what the view holds of an account (or of one contact of it) now, and
        drop it from what waits to be written; return how many Redis entries went.

        Alerts naming the contact, or any alert and change of the account, leave the two
        streams (the topics keep their own records; the view keeps no copy).
        """

        def doomed(fields: dict[bytes, bytes]) -> bool:
            if fields.get(b"account_id") != account_id.encode():
                return False
            alert = None if erased is None else SurgeAlert.model_validate_json(fields[b"alert"])
            return alert is None or _touches(alert, erased)

        self.alerts = [
            a for a in self.alerts if a.account_id != account_id or not _touches(a, erased)
        ]
        if erased is None:
            self.changes = [c for c in self.changes if c.account_id != account_id]
        keys, removed = self.keys, 0
        for stream in (keys.alerts, keys.changes) if erased is None else (keys.alerts,):
            removed += await self.drop_entries(stream, doomed)
        if erased is None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(keys.account(account_id))
            pipe.zrem(keys.surge_rank, account_id)
            pipe.zrem(keys.engagement_rank, account_id)
            removed += sum(await pipe.execute())
            await self.kpis.flush(self.redis)  # the withdrawal, now
        return removed

    async def drop_entries(self, stream: str, doomed: Callable[[dict[bytes, bytes]], bool]) -> int:
        """Delete the entries of a capped stream (alerts, changes) that `doomed` picks, by
        writing the stream again without them: XDEL only marks an entry deleted, and its
        bytes stay in memory (and in the next snapshot) until every entry of its node is
        gone. The stream is watched, so a writer adding meanwhile makes it start again."""
        for _ in range(REWRITE_ATTEMPTS):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(stream)
                    entries = await stream_entries(pipe, stream)
                    kept = [(i, fields) for i, fields in entries if not doomed(fields)]
                    if len(kept) == len(entries):
                        return 0
                    pipe.multi()
                    pipe.delete(stream)
                    for entry_id, fields in kept:
                        pipe.xadd(stream, fields, id=entry_id)  # type: ignore[arg-type]
                    await pipe.execute()
                    return len(entries) - len(kept)
                except WatchError:
                    continue
        raise RedisError(f"{stream} kept changing while an erasure rewrote it; retrying")

    def mark_id(self, account_id: str) -> None:
        """Rewrite an account whose state `load` reads at the flush (a re-sync of every
        account, and `abm view`, keep ids, not states)."""
        self.dirty.setdefault(account_id, None)
        if self.removed:
            self.removed.pop(account_id, None)

    def mark_campaign(self, state: AccountState) -> None:
        """Spend not tied to an account: it counts in the KPIs and has no hash of its own."""
        self.campaigns[state.account_id] = state

    def alert(self, alert: SurgeAlert) -> None:
        """Queue an alert for the capped stream; in a long outage the oldest give way, as
        the stream's own cap would have trimmed them (the topic keeps every alert)."""
        self.alerts.append(alert)
        if len(self.alerts) > self.stream_maxlen:
            del self.alerts[: len(self.alerts) - self.stream_maxlen]

    def change(self, change: TierChange) -> None:
        """Queue a tier change for the capped stream of recent changes (the dashboard's)."""
        self.changes.append(change)
        if len(self.changes) > CHANGES_MAXLEN:
            del self.changes[: len(self.changes) - CHANGES_MAXLEN]

    def _count(self, owner: str, state: AccountState, bag: dict[str, int]) -> None:
        if state.partition is not None:
            self.kpis.count(owner, state.partition, bag)

    def due(self, now: float) -> bool:
        """Whether the timer's round should write the view. A worker with more accounts
        waiting than one batch holds is busy (catching up, or at a peak): it lets them
        gather for `busy_interval_s`, and an account changed again meanwhile is written
        once. Each write costs the same (its snapshot, KPI partial and script call, ~40
        us), a sixth of a busy worker's time at one write per event. The view is then that
        much behind the state, as the busy worker's state is behind its input anyway."""
        return len(self.dirty) <= BATCH or now - self.flushed_at >= self.busy_interval_s

    async def flush(self, max_batch: int = BATCH) -> int:
        """Write up to `max_batch` dirty snapshots and queued alerts in one pipeline.

        Returns how many were written, so the caller can loop until a backlog is gone.
        A batch is built without yielding to the streams (~0.1 ms per account): kept
        small, the streams run between batches, while each waits for Redis.
        """
        if time.monotonic() < self._retry_at or self.lost:
            return 0
        self.flushed_at = time.monotonic()
        batch = {i: self.dirty.pop(i) for i in list(islice(self.dirty, max_batch))}
        campaigns = {i: self.campaigns.pop(i) for i in list(islice(self.campaigns, max_batch))}
        alerts, self.alerts = self.alerts[:max_batch], self.alerts[max_batch:]
        changes, self.changes = self.changes, []
        removed, self.removed = self.removed, {}
        writes: list[tuple[str, int | None, dict[str, str]]] = []
        for account_id, marked in batch.items():
            state = marked or self.load(account_id)
            if state is None:
                continue
            writes.append((account_id, state.partition, account_snapshot(state, self.rules)))
            roster = self.rosters.get(account_id)
            self._count(account_id, state, contribution(state, self.rules, roster=roster))
        for campaign_id, state in campaigns.items():
            self._count(f"#{campaign_id}", state, spend_contribution(campaign_id, state.spend))
        try:
            await self.kpis.flush(self.redis)  # first: it gets the epochs the writes carry
            pipe = self.redis.pipeline(transaction=False)
            await self._queue(pipe, writes, alerts, changes)
            await self._queue_removals(pipe, removed)
            held = (await pipe.execute())[0]
        except (RedisError, OSError) as exc:
            self.changes[:0] = changes
            self.removed = removed | self.removed
            self._failed(batch, campaigns, alerts, exc)
            return 0
        self._backoff_s = 0.0
        if not held:
            self.lost = True
            log.warning("redis holds no view (restarted empty?): re-syncing from table state")
        return len(batch) + len(campaigns) + len(alerts)

    def recount(self, partitions: list[int]) -> None:
        self.kpis.reset(partitions)

    def tier_accounts(self) -> dict[int, int]:
        return self.kpis.rollup.tier_accounts()

    async def flush_all(self) -> None:
        """Write every dirty account and queued alert, a batch at a time."""
        while await self.flush():
            pass

    async def publish_kpis(self, min_interval_s: float) -> None:
        """Republish the KPI hashes from the partials; a failure waits for the next round."""
        try:
            await self.kpis.publish(self.redis, min_interval_s)
        except (RedisError, OSError) as exc:
            log.warning("publishing the KPI hashes failed (%s); retrying later", exc)

    def _account_keys(self, account_id: str) -> list[str]:
        """KEYS of the fenced account scripts: owner hash, account hash, the two ranks."""
        keys = self.keys
        return [keys.kpi_owner, keys.account(account_id), keys.surge_rank, keys.engagement_rank]

    def _fence(self, partition: int | None) -> list[str | int]:
        """The partition and the epoch this worker holds for it ('' '': no fence)."""
        return ["", ""] if partition is None else [partition, self.kpis.epoch(partition)]

    async def _queue_removals(self, pipe: Pipeline, removed: dict[str, int | None]) -> None:
        for account_id, partition in removed.items():
            await self._remove_account(
                keys=self._account_keys(account_id),
                args=[*self._fence(partition), account_id],
                client=pipe,
            )

    async def _queue(
        self,
        pipe: Pipeline,
        writes: list[tuple[str, int | None, dict[str, str]]],
        alerts: list[SurgeAlert],
        changes: list[TierChange],
    ) -> None:
        """One batch's commands: the sentinel, fenced account writes, alerts, changes."""
        keys = self.keys
        pipe.exists(keys.sentinel)
        pipe.set(keys.sentinel, "1")
        for account_id, partition, snapshot in writes:
            surging = snapshot["surge_strength"] if snapshot["surging"] else "0"
            await self._write_account(
                keys=self._account_keys(account_id),
                args=[*self._fence(partition), account_id, surging, snapshot["engagement_points"]]
                + [x for field in snapshot.items() for x in field],
                client=pipe,
            )
        for alert in alerts:
            await self._add_alert_once(
                keys=[keys.alert_seen(alert.alert_id), keys.alerts],
                args=[
                    ALERT_MEMORY_S,
                    self.stream_maxlen,
                    alert.alert_id,
                    alert.account_id,
                    alert.kind,
                    alert.model_dump_json(),
                ],
                client=pipe,
            )
        for change in changes:
            pipe.xadd(
                keys.changes,
                {"account_id": change.account_id, "change": change.model_dump_json()},
                maxlen=CHANGES_MAXLEN,
                approximate=True,
            )

    def _failed(
        self,
        batch: dict[str, AccountState | None],
        campaigns: dict[str, AccountState],
        alerts: list[SurgeAlert],
        exc: Exception,
    ) -> None:
        """Put the batch back (newer marks win) and back off exponentially."""
        self.errors += 1
        self._backoff_s = min(MAX_BACKOFF_S, max(0.5, self._backoff_s * 2))
        self._retry_at = time.monotonic() + self._backoff_s
        for account_id, state in batch.items():
            self.dirty.setdefault(account_id, state)
        for campaign_id, state in campaigns.items():
            self.campaigns.setdefault(campaign_id, state)
        self.alerts[:0] = alerts
        log.warning(
            "redis write of %d accounts and %d alerts failed (%s); retrying in %.1fs",
            len(batch),
            len(alerts),
            exc,
            self._backoff_s,
        )

    async def close(self) -> None:
        await self.redis.aclose()
