"""`make bench-soak`: a worker under steady load for `--minutes`; does its memory level off?

Events (bench/workload.py's mix over `--accounts` accounts) arrive at a steady `--rate`
(default 1,000/s: about half of one worker's capacity here, see `make bench`). Their event
times cover `--days` (default 90) of history over the run, a backfill at a steady pace,
so within minutes every account's windows (35 days of retention) and its de-duplication
memory (7 days) have to expire data as fast as it comes: if either leaked, the worker's
RSS would keep climbing. The event clock is used (as in a replay), so "now" is the
events' own time. RSS (VmRSS) and the worker's processed count are sampled every 10 s;
the verdict is the growth over the last half of the run (goal: < 10%). Bounded: the
load stops after `--minutes`, the drain after 60 s more.

    python -m bench.soak [--minutes 10] [--rate 1000] [--accounts 10000] [--days 90]
"""

import asyncio
import time
from pathlib import Path

import click
import orjson
from aiokafka import AIOKafkaProducer

from bench.harness import memory_mib
from bench.worker import worker_env
from bench.workload import workload
from streams.clients.admin import ensure_topics
from streams.clients.kafka import client_options
from streams.clients.produce_tail import owner_key
from streams.config import Settings
from streams.dev.embedded import EmbeddedStack
from streams.dev.supervise import ChildWorker, processed_records, start_worker
from streams.dev.synth import Row

SAMPLE_S = 10.0
RESULTS = Path("bench/soak.json")
FIELDS = ("s", "sent", "processed", "rss_mib")


async def paced(
    settings: Settings, rows: list[Row], rate: int, worker: ChildWorker, linger_ms: int
) -> list:
    """Send `rows` at `rate`/s; sample (elapsed s, sent, processed, RSS MiB) every 10 s."""
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=linger_ms)
    await producer.start()
    samples, sent, started, next_sample = [], 0, time.monotonic(), 0.0
    try:
        while sent < len(rows):
            elapsed = time.monotonic() - started
            for kind, payload in rows[sent : min(len(rows), int(elapsed * rate) + 1)]:
                await producer.send(
                    getattr(settings.topics, kind), orjson.dumps(payload), key=owner_key(payload)
                )
                sent += 1
            if elapsed >= next_sample:
                sample = (round(elapsed), sent, processed_records(worker.web_port))
                samples.append((*sample, memory_mib(worker.proc.pid, "VmRSS")))
                click.echo(
                    f"{sample[0]:>5}s sent {sent:>8,} processed {sample[2]:>10,.0f} "
                    f"RSS {samples[-1][3]:>6} MiB"
                )
                next_sample += SAMPLE_S
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()
    return samples


@click.command()
@click.option("--minutes", default=10.0, show_default=True)
@click.option("--rate", default=1000, show_default=True, help="events per second")
@click.option("--accounts", default=10_000, show_default=True)
@click.option("--days", default=90, show_default=True, help="event time covered by the run")
@click.option(
    "--linger-ms",
    default=100,
    show_default=True,
    help="how long the sender gathers events into one batch (as a web collector would)",
)
def main(minutes: float, rate: int, accounts: int, days: int, linger_ms: int) -> None:
    events = int(minutes * 60 * rate)
    rows = workload(events, accounts, int(time.time() * 1000), days=days)
    profiles = [r for r in rows if r[0] == "accounts"]
    with EmbeddedStack() as stack:
        settings = stack.settings()
        asyncio.run(ensure_topics(settings))
        env = {**worker_env(stack, settings, "bench-soak"), "ABM_CLOCK": "event"}
        worker = start_worker(env, Path("bench-artifacts/bench-soak.log"), with_view=True)
        try:
            worker.wait_ready(90)
            asyncio.run(paced(settings, profiles, 5000, worker, linger_ms))
            samples = asyncio.run(paced(settings, rows[len(profiles) :], rate, worker, linger_ms))
            deadline = time.monotonic() + 60
            while processed_records(worker.web_port) < len(rows) and time.monotonic() < deadline:
                time.sleep(1)
            done = processed_records(worker.web_port)
        finally:
            worker.stop()
    half = samples[len(samples) // 2][3]
    last = samples[-1][3]
    growth = (last - half) / half
    verdict = "met" if growth < 0.10 else "NOT met"
    click.echo(
        f"\n{events:,} events at {rate}/s over {minutes} min ({days} days of event time); "
        f"processed {done:,.0f} of {len(rows):,} records"
    )
    click.echo(
        f"RSS {samples[0][3]} MiB at start, {half} MiB at half time, {last} MiB at the end: "
        f"growth over the last half {growth:+.1%} ({verdict}: < 10%)"
    )
    RESULTS.write_bytes(
        orjson.dumps(
            {
                "params": {"minutes": minutes, "rate": rate, "accounts": accounts, "days": days},
                "samples": [dict(zip(FIELDS, s, strict=True)) for s in samples],
                "processed": done,
                "records": len(rows),
                "growth_last_half": round(growth, 4),
                "met": growth < 0.10,
            },
            option=orjson.OPT_INDENT_2,
        )
    )


if __name__ == "__main__":
    main()
