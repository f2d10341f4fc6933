"""An erasure takes its entries out of Redis's memory, not only out of sight: the capped
streams are written again without them (XDEL would leave their bytes in memory, and in the
next snapshot, until every entry of their node is gone), and nothing added meanwhile is lost.
"""

import asyncio

import orjson
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from streams.config import Settings
from streams.sinks.redis_view import RedisView

STREAM = "erasure-test:alerts"


def named(fields: dict[bytes, bytes]) -> bool:
    return b"p-secret" in fields[b"alert"]


async def _filled(redis: Redis, entries: int) -> list[bytes]:
    await redis.delete(STREAM)
    ids = []
    for n in range(entries):
        who = "p-secret" if n % 10 else "p-kept"  # most entries name the person
        alert = orjson.dumps({"n": n, "contacts": [who], "padding": "x" * 60})
        ids.append(await redis.xadd(STREAM, {"account_id": "acme", "alert": alert}))
    return ids


def test_an_erasure_rewrites_the_stream_and_frees_the_memory(stack):
    async def run() -> None:
        settings = Settings(redis_url=stack.redis_url)
        view = RedisView(settings, settings.rules)
        redis = view.redis
        try:
            ids = await _filled(redis, 300)
            before = await redis.memory_usage(STREAM)
            dropped = await view.drop_entries(STREAM, named)
            after = await redis.memory_usage(STREAM)
            left = await redis.xrange(STREAM)
            assert dropped == 270
            assert [i for i, _ in left] == [i for n, i in enumerate(ids) if n % 10 == 0]
            assert not any(named(fields) for _, fields in left)
            assert after < before / 5  # the bytes went, not only the entries
            # with XDEL the same entries stay in memory: the reason for the rewrite
            ids = await _filled(redis, 300)
            await redis.xdel(STREAM, *[i for n, i in enumerate(ids) if n % 10])
            assert await redis.memory_usage(STREAM) > before / 2
        finally:
            await redis.delete(STREAM)
            await view.close()

    asyncio.run(run())


def test_an_entry_added_while_the_stream_is_rewritten_is_kept(stack):
    """Another writer adds an entry between the rewrite's read and its write: the watch
    sees it, the rewrite starts again, and the entry stays."""
    other = SyncRedis.from_url(stack.redis_url)
    added: list[bytes] = []

    def doomed_and_meanwhile(fields: dict[bytes, bytes]) -> bool:
        if not added:  # once, at once (a blocking client: before the rewrite writes)
            added.append(other.xadd(STREAM, {"account_id": "acme", "alert": b'{"new": 1}'}))
        return named(fields)

    async def run() -> list[bytes]:
        settings = Settings(redis_url=stack.redis_url)
        view = RedisView(settings, settings.rules)
        try:
            await _filled(view.redis, 20)
            assert await view.drop_entries(STREAM, doomed_and_meanwhile) == 18
            return [i for i, _ in await view.redis.xrange(STREAM)]
        finally:
            await view.redis.delete(STREAM)
            await view.close()

    try:
        left = asyncio.run(run())
    finally:
        other.close()
    assert added[0] in left
    assert len(left) == 3
