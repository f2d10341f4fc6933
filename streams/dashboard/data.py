"""What the dashboard shows, read from Redis (the view) and the broker (lag) alone.

Any worker serves the whole picture: the KPIs are summed over every partition's partial
and the lag is the group's, read from the broker, not this worker's share.
"""

import logging
from dataclasses import asdict
from typing import Any, cast

import orjson
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from streams.clients.group_lag import LagHistory, LagReadError
from streams.clients.redis import stream_entries
from streams.clients.redis_keys import RedisKeys
from streams.clients.unmatched import ProspectWatch
from streams.config import Settings
from streams.sinks.kpi_view import read_report

__all__ = ["LagWatch", "dashboard_data", "top_surging"]

log = logging.getLogger(__name__)

TOP_SURGING = 10
RECENT_CHANGES = 20
ALERTS_SCANNED = 500
UNMATCHED_DAYS = 30
UNMATCHED_DOMAINS = 10


class LagWatch:
    """The group's offsets sampled at each dashboard refresh, judged like `abm lag`."""

    def __init__(self, settings: Settings) -> None:
        topics = settings.topics.consumed()
        self.history = LagHistory(settings, settings.app_id, topics)

    async def read(self) -> dict[str, Any]:
        try:
            rows = await self.history.read(timeout_s=5.0)
        except (KafkaError, LagReadError, OSError, TimeoutError) as exc:
            return {"error": f"cannot read offsets: {exc}", "partitions": []}
        except Exception as exc:  # the page shows it; the next refresh tries again
            log.exception("reading offsets for the dashboard failed unexpectedly")
            return {"error": f"reading offsets failed: {exc!r}", "partitions": []}
        return {
            "error": None,
            "partitions": [{**asdict(r), "status": str(r.status)} for r in rows],
        }


async def top_surging(redis: Redis, keys: RedisKeys, n: int = TOP_SURGING) -> list[dict[str, Any]]:
    """The `n` accounts surging hardest, each with its latest alert's evidence."""
    ranked = cast(
        list[tuple[bytes, float]],
        await redis.zrevrange(keys.surge_rank, 0, n - 1, withscores=True),
    )
    if not ranked:
        return []
    latest: dict[str, dict[str, Any]] = {}
    for _id, fields in await stream_entries(
        redis, keys.alerts, newest_first=True, count=ALERTS_SCANNED
    ):
        alert = orjson.loads(fields[b"alert"])
        if not alert.get("holdout"):  # held out: shown to no seller
            latest.setdefault(fields[b"account_id"].decode(), alert)
    pipe = redis.pipeline(transaction=False)
    for member, _ in ranked:
        pipe.hmget(keys.account(member.decode()), "name", "tier", "owner", "surging")
    out = []
    rows = cast(list[list[bytes | None]], await pipe.execute())
    for (member, strength), (name, tier, owner, kinds) in zip(ranked, rows, strict=True):
        account = member.decode()
        out.append(
            {
                "account_id": account,
                "name": (name or b"").decode() or account,
                "tier": int(tier or 0),
                "owner": (owner or b"").decode() or None,
                "kinds": (kinds or b"").decode(),
                "strength": strength,
                "alert": latest.get(account),
            }
        )
    return out


async def _changes(redis: Redis, keys: RedisKeys) -> list[dict[str, Any]]:
    """The latest tier changes to arrive, repeats (outputs are at least once) dropped,
    newest event time first."""
    seen: set[tuple[str, int]] = set()
    out: list[dict[str, Any]] = []
    for _id, fields in await stream_entries(
        redis, keys.changes, newest_first=True, count=RECENT_CHANGES * 3
    ):
        change = orjson.loads(fields[b"change"])
        if (key := (change["account_id"], change["version"])) not in seen:
            seen.add(key)
            out.append(change)
    return sorted(out[:RECENT_CHANGES], key=lambda c: c["changed_at"], reverse=True)


async def dashboard_data(
    redis: Redis, settings: Settings, lag: LagWatch, prospects: ProspectWatch
) -> dict[str, Any]:
    kpis = await read_report(redis, settings, settings.rules)
    keys = RedisKeys(settings.redis_prefix)
    return {
        "kpis": kpis,
        "tiers": {tier: scope["accounts"] for tier, scope in kpis["tiers"].items()},
        "surging": await top_surging(redis, keys),
        "changes": await _changes(redis, keys),
        "lag": await lag.read(),
        "unmatched": prospects.read(UNMATCHED_DAYS, UNMATCHED_DOMAINS),
    }
