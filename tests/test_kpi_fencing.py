"""KPI partials are fenced: a worker that lost a partition cannot overwrite the new owner.

Two KpiViews against the real (embedded) Redis play the handover: the old owner keeps
flushing after the new one took the partition over and rewrote it whole, as a worker
still shutting down does. Its writes must be refused and the new owner's stand.
"""

import asyncio

from redis.asyncio import Redis

from streams.sinks.kpi_view import KpiView
from tests.harness import pipeline_settings


def partial(settings, partition: int) -> tuple[dict, dict]:
    async def run():
        client = Redis.from_url(settings.redis_url, decode_responses=True)
        try:
            part = await client.hgetall(f"{settings.redis_prefix}kpi:part:{partition}")
            clock = await client.hgetall(f"{settings.redis_prefix}kpi:clock")
            return part, clock
        finally:
            await client.aclose()

    return asyncio.run(run())


def flush(settings, view: KpiView) -> None:
    async def run():
        client = Redis.from_url(settings.redis_url)
        try:
            await view.flush(client)
        finally:
            await client.aclose()

    asyncio.run(run())


def test_the_previous_owner_cannot_overwrite_the_new_one(stack):
    settings, _ = pipeline_settings(stack)
    old, new = KpiView(settings, settings.rules), KpiView(settings, settings.rules)
    old.reset([0, 1])
    old.count("a", 0, {"1|accounts": 1, "1|opens": 3})
    old.count("b", 1, {"2|accounts": 1})
    old.clocks = {0: 1_000, 1: 1_000}
    flush(settings, old)
    assert partial(settings, 0) == ({"1|accounts": "1", "1|opens": "3"}, {"0": "1000", "1": "1000"})

    new.reset([0])  # partition 0 moves; the new owner recounts it from table state
    new.count("a", 0, {"1|accounts": 1, "1|opens": 4})
    new.clocks = {0: 2_000}
    flush(settings, new)

    old.count("a", 0, {"1|accounts": 1, "1|opens": 5})  # the old owner, shutting down
    old.count("b", 1, {"2|accounts": 1, "2|opens": 1})
    old.clocks = {0: 1_500, 1: 1_500}
    flush(settings, old)
    part0, clocks = partial(settings, 0)
    assert part0 == {"1|accounts": "1", "1|opens": "4"}
    assert clocks["0"] == "2000"
    part1, _ = partial(settings, 1)  # partition 1 is still the old owner's
    assert part1 == {"2|accounts": "1", "2|opens": "1"}
    assert clocks["1"] == "1500"

    new.count("a", 0, {"1|accounts": 1, "1|opens": 6})
    flush(settings, new)
    assert partial(settings, 0)[0] == {"1|accounts": "1", "1|opens": "6"}

    old.reset([0, 1])  # and back: a later takeover rewrites whole and wins again
    old.count("a", 0, {"1|accounts": 1})
    flush(settings, old)
    assert partial(settings, 0)[0] == {"1|accounts": "1"}
