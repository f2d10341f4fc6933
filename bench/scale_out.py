"""`make bench-scale-out`: one worker, then two in one group, over inputs of 8 partitions.

The same workload as `make bench` (200,000 events over 10,000 accounts + profiles) on
topics of 8 partitions. Each setup gets a group of its own and reads from the beginning;
its rate is the events processed (the workers' /metrics, summed) from the moment every
worker in it owns partitions, over `--window-s` seconds or until all are processed.
Prints the total and per-worker rates and the speed-up, for the README's sizing rule.
Bounded: every wait has a limit.

    python -m bench.scale_out [--events 200000] [--window-s 45]
"""

import asyncio
import time
from pathlib import Path

import click
import orjson

from bench.worker import worker_env
from bench.workload import workload
from streams.clients.admin import ensure_topics
from streams.config import Settings, Topics
from streams.dev.demo import send_rows
from streams.dev.embedded import EmbeddedStack
from streams.dev.supervise import ChildWorker, processed_records, start_worker

PARTITIONS = 8
POLL_S = 0.5
RESULTS = Path("bench/scale_out.json")


def run(
    stack: EmbeddedStack, settings: Settings, workers: int, window_s: float, total: int
) -> dict:
    app_id = f"bench-scale-{workers}"
    started: list[ChildWorker] = []
    try:
        for n in range(workers):
            env = {**worker_env(stack, settings, app_id), "ABM_PARTITIONS": str(PARTITIONS)}
            log = Path(f"bench-artifacts/{app_id}-{n}.log")
            started.append(start_worker(env, log, with_view=True))
        for worker in started:
            worker.wait_ready(120)
        before = after = [processed_records(w.web_port) for w in started]
        began = time.monotonic()
        seconds = 0.0
        # Until the window ends or the input is drained: counted past the drain, the idle
        # seconds would lower the rate (two workers drain 200,000 events in ~30 s).
        while seconds < window_s and sum(after) < total:
            time.sleep(POLL_S)
            after = [processed_records(w.web_port) for w in started]
            seconds = time.monotonic() - began
    finally:
        for worker in started:
            worker.stop()
    per_worker = [round((a - b) / seconds) for a, b in zip(after, before, strict=True)]
    return {"workers": workers, "rate": sum(per_worker), "per_worker": per_worker}


@click.command()
@click.option("--events", default=200_000, show_default=True)
@click.option("--accounts", default=10_000, show_default=True)
@click.option("--window-s", default=45.0, show_default=True)
def main(events: int, accounts: int, window_s: float) -> None:
    with EmbeddedStack() as stack:
        topics = Topics(**{k: f"bench-scale.{v}" for k, v in Topics().model_dump().items()})
        settings = stack.settings(topics=topics, partitions=PARTITIONS)
        asyncio.run(ensure_topics(settings))
        rows = workload(events, accounts, int(time.time() * 1000))
        asyncio.run(send_rows(settings, rows))
        results = [run(stack, settings, n, window_s, len(rows)) for n in (1, 2)]
    one, two = results
    for r in results:
        click.echo(
            f"{r['workers']} worker(s), {PARTITIONS} partitions: {r['rate']:,} events/s "
            f"(per worker {', '.join(f'{x:,}' for x in r['per_worker'])})"
        )
    speedup = two["rate"] / one["rate"]
    click.echo(f"speed-up with two workers: {speedup:.2f}x")
    RESULTS.write_bytes(
        orjson.dumps(
            {"partitions": PARTITIONS, "runs": results, "speedup": round(speedup, 2)},
            option=orjson.OPT_INDENT_2,
        )
    )


if __name__ == "__main__":
    main()
