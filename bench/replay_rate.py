"""Replay speed against the broker's read speed, in one run on the embedded stack.

A synthetic ABM history (bench default: 2,000 accounts, 60 days, ~47,000 records over
the five input topics) is produced once; then, alternately and `--repeats` times, a raw
aiokafka consumer (getmany + orjson decode, the ceiling) and `abm replay`'s reader and
engine (decode, merge, apply, ticks, KPI report) read the same records. Prints each
rate, the medians and their ratio.

    python bench/replay_rate.py [--accounts 2000] [--days 60] [--repeats 3]
"""

import asyncio
import statistics
import time

import click
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.admin import ensure_topics
from streams.config import Settings
from streams.demo import send_rows
from streams.embedded import EmbeddedStack
from streams.kafka import client_options
from streams.replay.engine import Replay
from streams.replay.run import Window, drive
from streams.replay.sources import topic_items
from streams.synth import World


async def raw_rate(settings: Settings, total: int) -> float:
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [
            TopicPartition(t, p)
            for t in settings.topics.inputs()
            for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started, seen = time.monotonic(), 0
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for r in records:
                    orjson.loads(r.value)
                seen += len(records)
        return seen / (time.monotonic() - started)
    finally:
        await consumer.stop()


async def replay_rate(settings: Settings) -> float:
    chunks, total = await topic_items(settings)
    replay = Replay(settings.rules, int(time.time() * 1000))
    counts = await drive(chunks, total, [replay], Window(), show=False)
    replay.kpis()
    return counts["rate"]


@click.command()
@click.option("--accounts", default=2000, show_default=True)
@click.option("--days", default=60, show_default=True)
@click.option("--repeats", default=3, show_default=True)
def main(accounts: int, days: int, repeats: int) -> None:
    with EmbeddedStack() as stack:
        settings = stack.settings()
        asyncio.run(ensure_topics(settings))
        world = World(accounts=accounts, days=days, end=int(time.time() * 1000))
        rows = world.profiles() + list(world.history())
        asyncio.run(send_rows(settings, rows))
        click.echo(f"{len(rows):,} records on the embedded broker")
        raws, replays = [], []
        for n in range(repeats):
            raws.append(asyncio.run(raw_rate(settings, len(rows))))
            replays.append(asyncio.run(replay_rate(settings)))
            click.echo(f"run {n + 1}: raw consumer {raws[-1]:,.0f}/s, replay {replays[-1]:,.0f}/s")
        raw, rep = statistics.median(raws), statistics.median(replays)
        click.echo(
            f"median: raw consumer (getmany + orjson) {raw:,.0f} events/s; replay {rep:,.0f} "
            f"events/s; replay / raw = {rep / raw:.3f} (goals: >= 50,000/s and >= 0.25)"
        )


if __name__ == "__main__":
    main()
