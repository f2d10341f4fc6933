"""`make bench`: every contender drains the same events in one run on the embedded stack.

The workload (bench/workload.py: default 200,000 events over 10,000 accounts plus their
profiles) is produced once; then, `--repeats` times, each contender reads all of it:

- ceiling_raw: a raw aiokafka consumer (getmany + orjson decode), the broker's read speed;
- ceiling_faust: a no-op faust agent (bench/peers.py), faust's own per-event ceiling;
- naive_faust: a faust agent that validates and writes one table record per event;
- pipeline: the real worker, from its first event to the last one processed and flushed
  to Redis (its /metrics, then the KPI partials' clock);
- replay: `abm replay` over the same topics, with its default processes (one per core);
- replay_one_process: the same in one process (the per-process figure).

Faust contenders are given `--drain-s` seconds from their first event (a worker at
~2,000 events/s would need minutes for the whole workload); their rate is what they
processed in that time. Then event-to-alert latency is measured on a fresh worker at a
steady 1,000 events/s and at half the pipeline's measured rate (bench/surge_latency.py).
Prints each rate (median of the repeats), the ratios and whether each goal is met, and
writes everything to bench/results.json. Every wait is bounded.

    python -m bench.harness [--events 200000] [--accounts 10000] [--repeats 3]
                            [--drain-s 45] [--latency-s 30] [--only ceiling_raw,replay]
                            [--skew 1.1]

The `*_skewed` contenders drain a second workload of the same size whose accounts are
drawn Zipf-like (`--skew`, default 1.1: a few accounts produce most events, as in real
traffic), on topics of its own: the case where coalescing state per account pays.
"""

import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.surge_latency import measure_latency
from bench.worker import worker_env
from bench.workload import workload
from streams.clients.admin import ensure_topics
from streams.clients.kafka import client_options
from streams.compiled import mode
from streams.config import Settings, Topics
from streams.dev.demo import send_rows
from streams.dev.embedded import EmbeddedStack, die_with_parent, free_port
from streams.dev.supervise import processed_records, scrape, start_view, start_worker
from streams.replay import shards
from streams.replay.run import Window
from streams.replay.shards import Job, default_workers

CONTENDERS = [
    "ceiling_raw",
    "ceiling_faust",
    "naive_faust",
    "pipeline",
    "replay",
    "replay_one_process",
    "peer_quix",
    "naive_faust_skewed",
    "pipeline_skewed",
]
SKEWED = "_skewed"
"""A contender named with this suffix drains the skewed workload (its own topics)."""
QUIX_PYTHON = Path(".venv-quix/bin/python")
"""Quix Streams pins pydantic below our pin: it gets a virtualenv of its own (make bench)."""
PEERS = {"ceiling_faust": "noop", "naive_faust": "naive"}
"""Contender -> BENCH_KIND of bench/peers.py."""
ARTIFACTS = Path("bench-artifacts")
LOGIC = mode()
"""How the pure logic runs here, and so in every contender that uses it."""
RESULTS = Path("bench/results.json")
_runs = itertools.count()


async def ceiling_raw(settings: Settings, total: int) -> dict[str, float]:
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
        while seen < total and time.monotonic() - started < 300:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for r in records:
                    orjson.loads(r.value)
                seen += len(records)
        return _rate(seen, time.monotonic() - started)
    finally:
        await consumer.stop()


async def replay(settings: Settings, workers: int) -> dict[str, float]:
    """`abm replay`'s pass with `workers` processes, to the KPI report."""
    job = Job(settings, (settings.rules,), None, Window(), ticks=True)
    (outcome,), counts = await shards.run(job, workers, show=False)
    outcome.kpis(settings.rules)
    return _rate(counts.read, counts.seconds) | {"workers": workers}


def _rate(events: int, seconds: float) -> dict[str, float]:
    return {"events": events, "seconds": round(seconds, 2), "rate": events / seconds}


def memory_mib(pid: int, field: str = "VmHWM") -> float | None:
    """A process's memory from /proc in MiB: VmHWM (peak RSS) or VmRSS (now); None once
    it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field)), 0)
    return round(kib / 1024, 1)


def _drain(
    progress: Callable[[], tuple[int, float, float]],
    total: int,
    budget_s: float,
    alive: Callable[[], bool],
) -> tuple[int, float]:
    """Poll (count, first, last) until all `total` arrived or `budget_s` passed since the
    first; also bounded before the first event arrives (start-up)."""
    started = time.monotonic()
    count, first, last = 0, 0.0, 0.0
    while alive():
        count, first, last = progress()
        if count >= total or (first and time.monotonic() - first > budget_s):
            break
        if not first and time.monotonic() - started > 90:
            raise TimeoutError("no event processed within 90 s of starting the worker")
        time.sleep(0.2)
    return count, max(last - first, 1e-9)


def peer(
    name: str, command: list[str], extra_env: Callable[[EmbeddedStack, Settings, str], dict]
) -> Callable[[EmbeddedStack, Settings, int, float], dict[str, Any]]:
    """A contender run as its own process, reporting its progress to a JSON file."""

    def run(
        stack: EmbeddedStack, settings: Settings, total: int, budget_s: float
    ) -> dict[str, Any]:
        app_id = f"bench-{name}-{next(_runs)}"
        report = ARTIFACTS / f"{app_id}.json"
        report.unlink(missing_ok=True)
        log = (ARTIFACTS / f"{app_id}.log").open("wb")
        proc = subprocess.Popen(
            command,
            env={
                **os.environ,
                **worker_env(stack, settings, app_id),
                **extra_env(stack, settings, app_id),
                "BENCH_REPORT": str(report),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

        def progress() -> tuple[int, float, float]:
            if not report.exists():
                return 0, 0.0, 0.0
            seen = orjson.loads(report.read_bytes() or b"{}")
            return seen.get("count", 0), seen.get("first", 0.0), seen.get("last", 0.0)

        try:
            count, seconds = _drain(progress, total, budget_s, lambda: proc.poll() is None)
            rss = memory_mib(proc.pid)
            if proc.poll() is not None:
                tail = (ARTIFACTS / f"{app_id}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        return {**_rate(count, seconds), "peak_rss_mib": rss}

    return run


def faust_peer(kind: str) -> Callable[[EmbeddedStack, Settings, int, float], dict[str, Any]]:
    return peer(kind, [sys.executable, "-m", "bench.peers"], lambda *_: {"BENCH_KIND": kind})


def _quix_env(stack: EmbeddedStack, settings: Settings, app_id: str) -> dict[str, str]:
    return {
        "BENCH_BROKER": f"127.0.0.1:{stack.kafka_port}",
        "BENCH_GROUP": app_id,
        "BENCH_TOPICS": ",".join(settings.topics.inputs()),
    }


QUIX_COMMAND = [str(QUIX_PYTHON), str(Path(__file__).with_name("quix_peer.py"))]
quix_peer = peer("quix", QUIX_COMMAND, _quix_env)


def pipeline(
    stack: EmbeddedStack, settings: Settings, total: int, budget_s: float
) -> dict[str, Any]:
    """The worker writing only Kafka, and an `abm view` process beside it writing Redis;
    timed from the worker's first event to the view's write of the last state."""
    app_id = f"bench-pipeline-{next(_runs)}"
    env = view_env(worker_env(stack, settings, app_id))
    worker = start_worker(env, ARTIFACTS / f"{app_id}.log", with_view=False)
    view = start_view(env, ARTIFACTS / f"{app_id}-view.log")
    port = worker.web_port
    first = 0.0

    def progress() -> tuple[int, float, float]:
        nonlocal first
        done = int(processed_records(port)) if worker.proc.poll() is None else 0
        now = time.monotonic()
        if done and not first:
            first = now
        return done, first, now

    try:
        worker.wait_ready(90)
        view.wait_ready(90)
        count, _ = _drain(progress, total, budget_s, lambda: worker.proc.poll() is None)
        view_caught_up(view.web_port, 30)
        seconds = time.monotonic() - first
        rss = memory_mib(worker.proc.pid)
        lag = view_lag(view.web_port)
    finally:
        worker.stop()
        view.stop()
    return {**_rate(count, seconds), "peak_rss_mib": rss, "view_lag_s": lag}


def view_env(env: dict[str, str]) -> dict[str, str]:
    """A worker's environment with a port for the view process beside it."""
    return {**env, "ABM_VIEW_PORT": str(free_port())}


def _view_counts(port: int) -> tuple[float, float]:
    """(account records read, account records written to Redis) by a view process."""
    metrics = scrape(port)
    read = sum(
        v
        for (name, labels), v in metrics.items()
        if name == "abm_view_records_total" and ("source", "accounts") in labels
    )
    written = sum(v for (name, _), v in metrics.items() if name == "abm_view_written_total")
    return read, written


def view_settled(port: int, timeout_s: float) -> None:
    """Wait until the view has written every state record it read, and read none for 1 s."""
    deadline = time.monotonic() + timeout_s
    last, since = (-1.0, -1.0), time.monotonic()
    while time.monotonic() < deadline:
        counts = _view_counts(port)
        if counts != last:
            last, since = counts, time.monotonic()
        elif counts[0] == counts[1] and time.monotonic() - since >= 1.0:
            return
        time.sleep(0.1)


def view_caught_up(port: int, timeout_s: float) -> None:
    """Wait until the view has written every state record it had read when called (the
    worker goes on: the view would never be idle)."""
    read = _view_counts(port)[0]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _view_counts(port)[1] < read:
        time.sleep(0.05)


def view_lag(port: int) -> dict[str, float | None]:
    """The view's state-change -> Redis lag: p50 and p99 as the upper bound of the
    histogram bucket they fall in (None past the last bucket)."""
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in scrape(port).items()
        if name == "abm_view_lag_seconds_bucket"
    )
    total = buckets[-1][1] if buckets else 0.0
    out: dict[str, float | None] = {"records": total}
    for name, q in (("p50_s", 0.5), ("p99_s", 0.99)):
        bound = next((le for le, count in buckets if total and count >= q * total), None)
        out[name] = None if bound is None or bound == float("inf") else bound
    return out


def latency(stack: EmbeddedStack, rate: int, seconds: float) -> dict[str, Any]:
    """Event-to-alert latency at `rate` on a fresh worker and fresh topics, with the view
    process beside it (and its state-change -> Redis lag)."""
    tag = f"bench-latency-{next(_runs)}"
    settings = stack.settings(topics=prefixed_topics(tag))
    asyncio.run(ensure_topics(settings))
    env = view_env(worker_env(stack, settings, tag))
    worker = start_worker(env, ARTIFACTS / f"{tag}.log", with_view=False)
    view = start_view(env, ARTIFACTS / f"{tag}-view.log")
    try:
        worker.wait_ready(90)
        view.wait_ready(90)
        figures = asyncio.run(measure_latency(settings, rate, seconds, 10.0, 20_000, 120.0))
        view_settled(view.web_port, 30)
        return figures | {"view_lag_s": view_lag(view.web_port)}
    finally:
        worker.stop()
        view.stop()


def run(
    name: str, stack: EmbeddedStack, settings: Settings, total: int, drain_s: float
) -> dict[str, Any]:
    """One run of contender `name` over the `total` records on `settings`' topics."""
    if name == "ceiling_raw":
        return asyncio.run(ceiling_raw(settings, total))
    if name == "replay":
        return asyncio.run(replay(settings, default_workers(settings)))
    if name == "replay_one_process":
        return asyncio.run(replay(settings, 1))
    if name == "pipeline":
        return pipeline(stack, settings, total, drain_s)
    if name == "peer_quix":
        return quix_peer(stack, settings, total, drain_s)
    return faust_peer(PEERS[name])(stack, settings, total, drain_s)


def produce(settings: Settings, rows: list) -> int:
    asyncio.run(send_rows(settings, rows))
    return len(rows)


def prefixed_topics(tag: str) -> Topics:
    """Every topic's name with `tag.` in front: a workload or a run of its own."""
    return Topics(**{k: f"{tag}.{v}" for k, v in Topics().model_dump().items()})


def _goal(name: str, value: float | None, target: float, above: bool = True) -> dict[str, Any]:
    met = value is not None and (value >= target if above else value < target)
    return {"goal": name, "value": value, "target": target, "met": met}


def goals(medians: dict[str, float], lat: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    def ratio(a: str, b: str) -> float | None:
        if not medians.get(a) or not medians.get(b):
            return None
        return round(medians[a] / medians[b], 3)

    out = [
        _goal("pipeline / ceiling_faust", ratio("pipeline", "ceiling_faust"), 0.6),
        _goal("pipeline / naive_faust", ratio("pipeline", "naive_faust"), 1.5),
        _goal(
            "pipeline / naive_faust, skewed",
            ratio("pipeline_skewed", "naive_faust_skewed"),
            3.0,
        ),
        _goal("replay / ceiling_raw", ratio("replay", "ceiling_raw"), 0.35),
        _goal("replay / peer_quix", ratio("replay", "peer_quix"), 1.0),
        _goal(
            "replay_one_process events/s",
            round(medians["replay_one_process"]) if "replay_one_process" in medians else None,
            60_000,
        ),
    ]
    for label, figures in lat.items():
        out.append(
            _goal(
                f"p99 event-to-alert ms at {label}",
                figures.get("latency_ms_p99"),
                1000,
                above=False,
            )
        )
        out.append(
            _goal(
                f"p99 state-change -> Redis s at {label} (bucket bound)",
                figures.get("view_lag_s", {}).get("p99_s"),
                1.0,
                above=False,
            )
        )
    return out


@click.command()
@click.option("--events", default=200_000, show_default=True)
@click.option("--accounts", default=10_000, show_default=True)
@click.option("--repeats", default=3, show_default=True)
@click.option("--drain-s", default=45.0, show_default=True, help="budget per faust contender")
@click.option("--latency-s", default=30.0, show_default=True, help="0 skips the latency runs")
@click.option("--only", default=",".join(CONTENDERS), show_default=True, help="contenders to run")
@click.option(
    "--skew",
    type=click.FloatRange(0, 3),
    default=1.1,
    show_default=True,
    help="the *_skewed contenders' workload: accounts drawn Zipf-like with exponent s "
    "(0 leaves those contenders out)",
)
def main(
    events: int,
    accounts: int,
    repeats: int,
    drain_s: float,
    latency_s: float,
    only: str,
    skew: float,
) -> None:
    chosen = [c.strip() for c in only.split(",") if c.strip()]
    unknown = sorted(set(chosen) - set(CONTENDERS))
    if unknown:
        raise click.BadParameter(
            f"unknown {unknown}; choose from {CONTENDERS}", param_hint="--only"
        )
    if "peer_quix" in chosen and not QUIX_PYTHON.exists():
        raise click.UsageError(
            f"peer_quix runs in its own virtualenv and {QUIX_PYTHON} is missing: run "
            "`make bench-quix-env` (or leave peer_quix out of --only)"
        )
    if not skew:
        chosen = [name for name in chosen if not name.endswith(SKEWED)]
    ARTIFACTS.mkdir(exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in chosen}
    with EmbeddedStack() as stack:
        settings = stack.settings()
        asyncio.run(ensure_topics(settings))
        now_ms = int(time.time() * 1000)
        started = time.monotonic()
        workloads = {"": (settings, produce(settings, workload(events, accounts, now_ms)))}
        if any(name.endswith(SKEWED) for name in chosen):
            skewed = stack.settings(topics=prefixed_topics("skewed"))
            asyncio.run(ensure_topics(skewed))
            rows = workload(events, accounts, now_ms, skew=skew)
            workloads[SKEWED] = (skewed, produce(skewed, rows))
        total = workloads[""][1]
        click.echo(f"{total:,} records per workload produced in {time.monotonic() - started:.1f}s")
        click.echo(f"logic: {LOGIC} (see streams/dev/kernel.py)")
        for n in range(repeats):
            for name in chosen:
                base = name.removesuffix(SKEWED)
                where, count = workloads[SKEWED if base != name else ""]
                figures = run(base, stack, where, count, drain_s)
                runs[name].append(figures)
                click.echo(
                    f"run {n + 1} {name:>18}: {figures['rate']:>10,.0f} events/s "
                    f"({figures['events']:,} in {figures['seconds']}s)"
                )
        medians = {
            name: statistics.median(r["rate"] for r in results)
            for name, results in runs.items()
            if results
        }
        lat: dict[str, dict[str, Any]] = {}
        if latency_s > 0 and "pipeline" in medians:
            half = int(medians["pipeline"] / 2)
            for label, rate in (("1000/s", 1000), (f"50% of pipeline ({half}/s)", half)):
                lat[label] = latency(stack, rate, latency_s)
    report(
        runs,
        medians,
        lat,
        {
            "events": events,
            "accounts": accounts,
            "skew": skew,
            "records": total,
            "repeats": repeats,
            "drain_s": drain_s,
            "logic": LOGIC,
        },
    )


def report(runs: dict, medians: dict[str, float], lat: dict, params: dict) -> None:
    click.echo("\nmedians")
    for name, rate in medians.items():
        rss = [r["peak_rss_mib"] for r in runs[name] if r.get("peak_rss_mib")]
        extra = f"  peak RSS {statistics.median(rss):,.0f} MiB" if rss else ""
        click.echo(f"  {name:>18}: {rate:>10,.0f} events/s{extra}")
    for label, figures in lat.items():
        click.echo(
            f"  latency at {label}: p50 {figures['latency_ms_p50']} ms, "
            f"p99 {figures['latency_ms_p99']} ms, "
            f"alerts {figures['alerts_seen']}/{figures['alerts_expected']}; "
            f"state-change -> Redis p50 <= {figures['view_lag_s']['p50_s']} s, "
            f"p99 <= {figures['view_lag_s']['p99_s']} s"
        )
    checks = goals(medians, lat)
    click.echo("\ngoals")
    for g in checks:
        verdict = "met    " if g["met"] else "NOT met"
        sign = "<" if g["goal"].startswith("p99") else ">="
        click.echo(f"  {verdict}  {g['goal']}: {g['value']} (target {sign} {g['target']})")
    RESULTS.write_bytes(
        orjson.dumps(
            {"params": params, "runs": runs, "medians": medians, "latency": lat, "goals": checks},
            option=orjson.OPT_INDENT_2,
        )
    )
    click.echo(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
