"""Event-to-alert latency under steady load, on the embedded stack with a real worker.

Background traffic (page views spread over many accounts, too thin for any of them to
surge) flows at a steady rate; a few times a second a fresh account gets an intent score
of 90, which is a surge the moment it is applied. The latency of one alert is the time
from handing its trigger event to the producer to reading its alert back from
abm.surge-alerts.v1: producer linger, broker, worker, alert publish and consumer fetch.

    python bench/surge_latency.py [--rate 2000] [--seconds 30] [--triggers-per-s 10]

Prints figures (and `--json FILE` writes them). Bounded: the load stops after
`--seconds`, and waiting for the last alerts stops after `--drain-timeout`.
"""

import asyncio
import contextlib
import itertools
import statistics
import time
from pathlib import Path

import click
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.worker import worker_env
from streams.clients.admin import ensure_topics
from streams.clients.kafka import client_options
from streams.config import Settings
from streams.dev.embedded import EmbeddedStack
from streams.dev.supervise import start_worker

TICK_S = 0.01


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _watch_alerts(settings: Settings, seen: dict[str, float], stop: asyncio.Event) -> None:
    """Record when each trigger account's alert is read back (monotonic clock)."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    await consumer.start()
    try:
        topic = settings.topics.surge_alerts
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20, max_records=1000)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    account = orjson.loads(record.value)["account_id"]
                    seen.setdefault(account, now)
    finally:
        await consumer.stop()


async def _load(
    settings: Settings, rate: int, seconds: float, triggers_per_s: float, accounts: int
) -> tuple[dict[str, float], int, float]:
    """Send at `rate` events/s for `seconds`; return trigger send times, events sent, elapsed."""
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=5, acks=1)
    await producer.start()
    sent_at: dict[str, float] = {}
    sent = 0
    ids = itertools.count()
    trigger_every = rate / triggers_per_s
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate) - sent
            now_ms = int(time.time() * 1000)
            for _ in range(due):
                n = next(ids)
                if n % int(trigger_every) == 0:
                    account = f"trigger-{n}"
                    topic, payload = (
                        settings.topics.intent,
                        {"provider": "bench", "topic": "crm", "score": 90},
                    )
                    sent_at[account] = time.monotonic()
                else:
                    account = f"acct-{n % accounts}"
                    topic, payload = (
                        settings.topics.engagement,
                        {"contact_id": f"c{n % 7}", "channel": "web", "action": "page_view"},
                    )
                value = {
                    "event_id": f"b{n}",
                    "account_id": account,
                    "occurred_at": now_ms,
                    **payload,
                }
                await producer.send(topic, orjson.dumps(value), key=account.encode())
                sent += 1
            await asyncio.sleep(TICK_S)
        await producer.flush()
    finally:
        await producer.stop()
    return sent_at, sent, time.monotonic() - started


async def measure_latency(
    settings: Settings,
    rate: int,
    seconds: float,
    triggers_per_s: float,
    accounts: int,
    drain_timeout: float,
) -> dict:
    seen: dict[str, float] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_alerts(settings, seen, stop))
    await asyncio.sleep(1.0)  # the watcher's seek_to_end before the first trigger
    sent_at, sent, elapsed = await _load(settings, rate, seconds, triggers_per_s, accounts)
    load_ended = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(drain_timeout):
            while set(sent_at) - set(seen):  # noqa: ASYNC110 - polling a dict the watcher fills
                await asyncio.sleep(0.1)
    drained = time.monotonic() - load_ended
    stop.set()
    await watcher
    latencies = [(seen[a] - t) * 1000 for a, t in sent_at.items() if a in seen]
    return {
        "target_rate": rate,
        "achieved_send_rate": round(sent / elapsed),
        "seconds": round(elapsed, 1),
        "events": sent,
        "alerts_expected": len(sent_at),
        "alerts_seen": len(latencies),
        "drain_s_after_load": round(drained, 1),
        "latency_ms_p50": round(_percentile(latencies, 0.5)) if latencies else None,
        "latency_ms_p90": round(_percentile(latencies, 0.9)) if latencies else None,
        "latency_ms_p99": round(_percentile(latencies, 0.99)) if latencies else None,
        "latency_ms_max": round(max(latencies)) if latencies else None,
        "latency_ms_first_5s_median": (
            round(statistics.median(latencies[: max(1, int(5 * triggers_per_s))]))
            if latencies
            else None
        ),
    }


@click.command()
@click.option("--rate", default=2000, show_default=True, help="events per second")
@click.option("--seconds", default=30.0, show_default=True, help="how long the load runs")
@click.option("--triggers-per-s", default=10.0, show_default=True, help="surges per second")
@click.option("--accounts", default=20_000, show_default=True, help="background accounts")
@click.option("--drain-timeout", default=120.0, show_default=True, help="max wait after load")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="also write figures")
def main(
    rate: int,
    seconds: float,
    triggers_per_s: float,
    accounts: int,
    drain_timeout: float,
    json_out: Path | None,
) -> None:
    with EmbeddedStack() as stack:
        settings = stack.settings()
        asyncio.run(ensure_topics(settings))
        # Batching as in production (the embedded stack's one-record batches put each
        # alert behind a flush's worth of changelog requests: p99 ~0.9 s at 2,000/s).
        env = worker_env(stack, settings, "bench-surges")
        worker = start_worker(env, Path("bench-artifacts/surge-latency-worker.log"), with_view=True)
        try:
            click.echo(f"worker ready in {worker.wait_ready():.1f}s; loading {rate} events/s")
            figures = asyncio.run(
                measure_latency(settings, rate, seconds, triggers_per_s, accounts, drain_timeout)
            )
        finally:
            worker.stop()
    for name, value in figures.items():
        click.echo(f"{name:>28}: {value}")
    if json_out:
        json_out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
