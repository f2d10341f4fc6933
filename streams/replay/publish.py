"""`abm replay --publish PREFIX`: a replay's results where other tools can read them, in a
namespace of their own, never the live one.

Topics `{PREFIX}.tier-changes.v1` and `{PREFIX}.surge-alerts.v1` get the transitions and
alerts (the live contracts, keyed by account, in replay order); Redis gets `{PREFIX}:kpi`,
`{PREFIX}:kpi:tier:{n}`, `{PREFIX}:kpi:daily:{date}` (the live KPI layout) and
`{PREFIX}:tiers` (account -> {"tier", "rule"}). The Redis keys are replaced as a whole in
one transaction; the topics are logs, so a second run with the same prefix appends.
"""

import re
from dataclasses import dataclass
from typing import Any, cast

import orjson

from streams.clients.admin import ensure_topics
from streams.clients.produce_tail import Keyed, produce
from streams.clients.redis import HashFields, async_redis
from streams.clients.redis_keys import RedisKeys
from streams.config import Settings
from streams.sinks.kpi_view import kpi_hashes

__all__ = ["Namespace", "namespace", "publish"]

_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]{0,40}")


@dataclass(frozen=True)
class Namespace:
    tier_changes: str
    stage_changes: str
    surge_alerts: str
    alert_outcomes: str
    redis_prefix: str

    def topics(self) -> list[str]:
        return [self.tier_changes, self.stage_changes, self.surge_alerts, self.alert_outcomes]


def namespace(settings: Settings, prefix: str) -> Namespace:
    """The topics and key prefix PREFIX names; ValueError when it is malformed or would
    write where the live pipeline reads or writes."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"--publish {prefix!r}: use 1-41 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit (e.g. backtest-2026-11)"
        )
    names = Namespace(
        tier_changes=f"{prefix}.tier-changes.v1",
        stage_changes=f"{prefix}.stage-changes.v1",
        surge_alerts=f"{prefix}.surge-alerts.v1",
        alert_outcomes=f"{prefix}.alert-outcomes.v1",
        redis_prefix=f"{prefix}:",
    )
    live_topics = set(settings.topics.all())
    clash = [t for t in names.topics() if t in live_topics]
    if names.redis_prefix == settings.redis_prefix:
        clash.append(f"Redis keys {settings.redis_prefix}*")
    if clash:
        raise ValueError(
            f"--publish {prefix!r} would write to the live {', '.join(clash)}: "
            "choose another prefix"
        )
    return names


def _keyed(rows: list[dict[str, Any]]) -> list[Keyed]:
    return [Keyed(row["account_id"].encode(), orjson.dumps(row)) for row in rows]


async def publish(settings: Settings, names: Namespace, result: dict[str, Any]) -> dict[str, int]:
    """Write a replay's `result` (as `summary` gives it) under `names`; return the counts."""
    await ensure_topics(settings, names.topics())
    changes = await produce(settings, names.tier_changes, _keyed(result["transitions"]))
    moved = await produce(settings, names.stage_changes, _keyed(result["stage_transitions"]))
    alerts = await produce(settings, names.surge_alerts, _keyed(result["alerts"]))
    outcomes = await produce(settings, names.alert_outcomes, _keyed(result["alert_outcomes"]))
    keys = RedisKeys(names.redis_prefix)
    hashes = kpi_hashes(keys, result["kpis"])
    tiers_key = keys.tiers
    tiers = {account: orjson.dumps(t) for account, t in result["tiers"].items()}
    redis = async_redis(settings)
    try:
        stale = [k async for k in redis.scan_iter(match=keys.kpi_all)]
        pipe = redis.pipeline(transaction=True)
        for key in {*stale, tiers_key}:
            pipe.delete(key)
        for key, mapping in hashes.items():
            pipe.hset(key, mapping=cast(HashFields, mapping))
        if tiers:
            pipe.hset(tiers_key, mapping=cast(HashFields, tiers))
        await pipe.execute()
    finally:
        await redis.aclose()
    return {
        "transitions": changes,
        "stage_transitions": moved,
        "alerts": alerts,
        "outcomes": outcomes,
        "redis_keys": len(hashes) + bool(tiers),
    }
