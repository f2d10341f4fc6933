"""KPIs in Redis: per-partition partials as absolute values, and the report built from them.

Layout (prefix `abm:`): `kpi:part:{p}` holds partition p's counters (see logic/kpis.py),
`kpi:clock` the newest event time per partition. Each flush replaces changed counters in
one MULTI/EXEC, so a reader never sees half a flush. Readers sum the partials of all
partitions, whichever worker owns them; `kpi`, `kpi:tier:{n}` and `kpi:daily:{date}` are
that sum turned into KPIs, republished by the workers every few seconds for dashboards.

Writes are fenced: a worker that takes a partition over rewrites its partial whole and
gets a fresh epoch from Redis (`kpi:epoch`, recorded per partition in `kpi:owner`); a
later write from the previous owner (still flushing while it shuts down) carries an older
epoch and is refused. Without the fence its last flush could land after the new owner's
and leave a counter stale for good (found by the two-worker test in CI).
"""

import time
from collections import Counter
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from streams.clients.redis import HashFields
from streams.clients.redis_keys import RedisKeys
from streams.config import Settings
from streams.logic.kpis.kpi_report import TARGETS, report
from streams.logic.kpis.rollup import Rollup
from streams.logic.rules import Rules

__all__ = ["KpiView", "kpi_hashes", "read_report"]


_WRITE_PARTIAL = """
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local epoch = tonumber(ARGV[2])
if ARGV[3] == 'whole' then
  epoch = redis.call('INCR', KEYS[4])
  redis.call('HSET', KEYS[1], ARGV[1], epoch)
  redis.call('DEL', KEYS[2])
elseif epoch ~= held then
  return 0
end
for i = 5, #ARGV, 2 do
  if ARGV[i + 1] == '0' then
    redis.call('HDEL', KEYS[2], ARGV[i])
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
end
return epoch
"""
"""Write one partition's partial: whole (a new epoch, returned) or changed fields and the
clock, only under the epoch this writer holds (0 when it no longer does)."""


async def read_report(
    redis: Redis, settings: Settings, rules: Rules, now_ms: int | None = None
) -> dict[str, Any]:
    """The KPI report from the partials in Redis, as of the wall clock or (with the event
    clock) the newest event time any partition has seen."""
    keys = RedisKeys(settings.redis_prefix)
    pipe = redis.pipeline(transaction=True)
    for partition in range(settings.partitions):
        pipe.hgetall(keys.kpi_partial(partition))
    pipe.hgetall(keys.kpi_clock)
    *partials, clocks = await pipe.execute()
    total: Counter[str] = Counter()
    for partial in partials:
        total.update({k.decode(): int(v) for k, v in partial.items()})
    if settings.clock == "event":
        as_of = max((int(v) for v in clocks.values()), default=0)
    else:
        as_of = now_ms if now_ms is not None else int(time.time() * 1000)
    return report(total, as_of, rules)


def _flat(kpis: dict[str, Any]) -> dict[str, str]:
    """A hash of one scope: numbers as text, null as '', nested figures as JSON."""
    out = {}
    for name, value in kpis.items():
        if value is None:
            out[name] = ""
        elif isinstance(value, dict):
            out[name] = orjson.dumps(value).decode()
        else:
            out[name] = repr(value) if isinstance(value, float) else str(value)
    return out


def kpi_hashes(keys: RedisKeys, kpis: dict[str, Any]) -> dict[str, dict[str, str]]:
    """A KPI report as Redis hashes: `kpi` (overall), `kpi:targets`, `kpi:tier:{n}`,
    `kpi:daily:{date}`, `kpi:campaigns` (a field per campaign, its figures as JSON)."""
    hashes = {
        keys.kpi: {"as_of": kpis["as_of"], **_flat(kpis["overall"])},
        keys.kpi_targets: _flat(kpis[TARGETS]),
    }
    for tier, scope in kpis["tiers"].items():
        hashes[keys.kpi_tier(tier)] = _flat(scope)
    if kpis["campaigns"]:
        hashes[keys.kpi_campaigns] = _flat(kpis["campaigns"])
    for day, row in kpis["daily"].items():
        hashes[keys.kpi_daily(day)] = _flat(row)
    return hashes


class KpiView:
    def __init__(
        self, settings: Settings, rules: Rules, clocks: dict[int, int] | None = None
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.keys = RedisKeys(settings.redis_prefix)
        self.rollup = Rollup()
        self.clocks = clocks if clocks is not None else {}
        """Newest event time per partition (the worker's stream time), written with the
        partials: the KPIs' 'now' with the event clock."""
        self._clocks_written: dict[int, int] = {}
        self._epochs: dict[int, int] = {}
        """The fencing epoch this worker holds per partition (from its last whole write)."""
        self._published: dict[str, dict[str, str]] = {}
        self._changed_since_report = True
        self._reported_at = 0.0

    def epoch(self, partition: int) -> str:
        """The fencing epoch this worker holds for `partition` ('' when none: Redis then
        refuses its writes there)."""
        held = self._epochs.get(partition)
        return "" if held is None else str(held)

    def count(self, owner: str, partition: int, bag: dict[str, int]) -> None:
        self.rollup.update(owner, partition, bag)
        self._changed_since_report = True

    def withdraw(self, owner: str) -> None:
        self.rollup.withdraw(owner)
        self._changed_since_report = True

    def reset(self, owned: list[int]) -> None:
        """Recount from scratch: partials, clocks and published hashes are all rewritten."""
        self.rollup.reset(owned)
        self._epochs.clear()
        self._clocks_written.clear()
        self._published.clear()
        self._changed_since_report = True

    async def flush(self, redis: Redis) -> None:
        """Write what changed since the last flush; on failure keep it for the next one."""
        whole, fields = self.rollup.take_changes()
        clocks = {p: t for p, t in self.clocks.items() if self._clocks_written.get(p) != t}
        partitions = sorted(set(whole) | set(fields) | set(clocks))
        if not partitions:
            return
        keys = [self.keys.kpi_owner, "", self.keys.kpi_clock, self.keys.kpi_epoch]
        pipe = redis.pipeline(transaction=True)
        for p in partitions:
            counters = whole.get(p, fields.get(p, {}))
            args: list[Any] = [p, self._epochs.get(p, -1), "whole" if p in whole else "fields"]
            args.append(clocks.get(p, ""))
            for name, value in counters.items():
                args += [name, value]
            keys[1] = self.keys.kpi_partial(p)
            pipe.eval(_WRITE_PARTIAL, 4, *keys, *args)
        try:
            results = await pipe.execute()
        except BaseException:
            self.rollup.restore(whole, fields)
            raise
        for p, epoch in zip(partitions, results, strict=True):
            if p in whole:
                self._epochs[p] = int(epoch)
            elif not epoch:  # another worker owns p now: what this one counted is stale
                self._epochs.pop(p, None)
        self._clocks_written.update(clocks)

    async def publish(self, redis: Redis, min_interval_s: float) -> bool:
        """Rebuild the KPI hashes from all partials, at most every `min_interval_s`, and
        only when a partial changed (or a minute passed: windows move with the clock)."""
        since = time.monotonic() - self._reported_at
        if since < min_interval_s or not (self._changed_since_report or since > 60):
            return False
        self._changed_since_report = False
        self._reported_at = time.monotonic()
        try:
            kpis = await read_report(redis, self.settings, self.rules)
            hashes = kpi_hashes(self.keys, kpis)
            changed = {k: v for k, v in hashes.items() if self._published.get(k) != v}
            pipe = redis.pipeline(transaction=True)
            for key, mapping in changed.items():
                pipe.delete(key)
                pipe.hset(key, mapping=cast(HashFields, mapping))
            for key in set(self._published) - set(hashes):
                pipe.delete(key)
            await pipe.execute()
        except BaseException:
            self._changed_since_report = True  # the next round tries again
            raise
        self._published = hashes
        return True

    @property
    def all_published(self) -> bool:
        """Whether the KPI hashes hold every count made so far."""
        return not self._changed_since_report
