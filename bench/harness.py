"""`make bench`: every contender drains the same events in one run on the embedded stack.

The workload (bench/workload.py: default 200,000 events over 10,000 accounts plus their
profiles) is produced once; then, `--repeats` times, each contender reads all of it, in
an order shuffled for each repeat (`--seed`), so no contender always runs on a machine
warmed or tired by the same neighbour:

- ceiling_raw: a raw aiokafka consumer (getmany + orjson decode), the broker's read speed;
- ceiling_faust: a no-op faust agent (bench/peers.py), faust's own per-event ceiling;
- naive_faust: a faust agent that validates and writes one table record per event;
- naive_product: a plain faust agent around the product's logic (the worker's own `take`
  and `apply_event`), writing the state table and sending the outputs on every event;
- pipeline: the real worker on the event clock, with an `abm view` process beside it;
- replay: `abm replay` over the same topics, with its default processes (one per core);
- replay_one_process: the same in one process (the per-process figure).

Every contender times itself, from its first event to its last: the peers report when
they were done with their first and latest, the worker serves the same span on /metrics
(`abm_input_span_seconds`, scraped once a second: the scrape runs on its event loop),
ceiling_raw starts its clock at its first non-empty batch and replay times its pass.
The view's catch-up after the worker's drain is timed on its own. Beside each rate is
the contender's CPU time per event (from /proc, or the process's own clock), a figure
that survives a noisy machine better than the rate. Faust contenders and the worker are
given `--drain-s` seconds of their own (a worker at ~4,000 events/s would need a minute
for the whole workload); their rate is what they processed in that time. Then
event-to-alert latency is measured on a fresh worker at a steady 1,000 events/s and at
half the pipeline's measured rate (bench/surge_latency.py). Prints each rate (median of
the repeats), the ratios and whether each goal is met, and writes everything to
bench/results.json. Every wait is bounded.

    python -m bench.harness [--events 200000] [--accounts 10000] [--repeats 3]
                            [--drain-s 45] [--latency-s 30] [--only ceiling_raw,replay]
                            [--skew 1.1] [--seed 1]

The `*_skewed` contenders drain a second workload of the same size whose accounts are
drawn Zipf-like (`--skew`, default 1.1: a few accounts produce most events, as in real
traffic), on topics of its own: the case where coalescing state per account pays.
"""

import asyncio
import itertools
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

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
from streams.dev.supervise import scrape, start_view, start_worker
from streams.replay import shards
from streams.replay.run import Window
from streams.replay.shards import Job, default_workers

CONTENDERS = [
    "ceiling_raw",
    "ceiling_faust",
    "naive_faust",
    "naive_product",
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
PEERS = {"ceiling_faust": "noop", "naive_faust": "naive", "naive_product": "product"}
"""Contender -> BENCH_KIND of bench/peers.py."""
WRITERS = ("pipeline", "naive_product")
"""Contenders that send outputs: their run's own topics are created before they start."""
ARTIFACTS = Path("bench-artifacts")
LOGIC = mode()
"""How the pure logic runs here, and so in every contender that uses it."""
RESULTS = Path("bench/results.json")
_runs = itertools.count()


async def ceiling_raw(settings: Settings, total: int) -> dict[str, float | None]:
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
        first = cpu_first = 0.0  # from the first non-empty batch, as the others time
        while seen < total and time.monotonic() - started < 300:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if batch and not first:
                first, cpu_first = time.monotonic(), time.process_time()
            for records in batch.values():
                for r in records:
                    orjson.loads(r.value)
                seen += len(records)
        cpu = _per_event_us(time.process_time() - cpu_first, seen)
        return _rate(seen, time.monotonic() - first) | {"cpu_us_per_event": cpu}
    finally:
        await consumer.stop()


async def replay(settings: Settings, workers: int) -> dict[str, float | None]:
    """`abm replay`'s pass with `workers` processes, to the KPI report; its CPU is this
    process's and its shard processes' (reaped by the end of the pass)."""
    job = Job(settings, (settings.rules,), None, Window(), ticks=True)
    cpu_before = _own_and_children_cpu()
    (outcome,), counts = await shards.run(job, workers, show=False)
    cpu = _per_event_us(_own_and_children_cpu() - cpu_before, counts.read)
    outcome.kpis(settings.rules)
    return _rate(counts.read, counts.seconds) | {"workers": workers, "cpu_us_per_event": cpu}


def _rate(events: int, seconds: float) -> dict[str, float]:
    return {"events": events, "seconds": round(seconds, 2), "rate": events / max(seconds, 1e-9)}


def _per_event_us(cpu_s: float, events: int) -> float | None:
    return round(cpu_s / events * 1e6, 1) if events > 0 else None


def _own_and_children_cpu() -> float:
    """CPU seconds of this process and of its children already waited for."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu_seconds(pid: int) -> float | None:
    """A process's CPU time (user + system) from /proc; None once it has exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int, field: str = "VmHWM") -> float | None:
    """A process's memory from /proc in MiB: VmHWM (peak RSS) or VmRSS (now); None once
    it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field)), 0)
    return round(kib / 1024, 1)


class Sample(NamedTuple):
    """What a contender reported at one poll: events done, the seconds from its first to
    its latest (its own clock), and the CPU seconds so far of each of its processes."""

    events: int
    seconds: float
    cpu_s: tuple[float | None, ...]


def cpu_per_event(first: Sample | None, last: Sample) -> list[float | None]:
    """Each process's CPU microseconds per event between two samples: from the first that
    saw an event, so start-up (imports, recovery) is left out."""
    if first is None or last.events <= first.events:
        return [None] * len(last.cpu_s)
    return [
        None if a is None or b is None else _per_event_us(b - a, last.events - first.events)
        for a, b in zip(first.cpu_s, last.cpu_s, strict=True)
    ]


def _drain(
    progress: Callable[[], Sample],
    total: int,
    budget_s: float,
    alive: Callable[[], bool],
    poll_s: float,
) -> tuple[Sample | None, Sample]:
    """Poll every `poll_s` until all `total` were done or the contender's own clock
    passed `budget_s`; return the first sample that saw an event and the last. Bounded
    before the first event (start-up) and after it (a contender that stalls)."""
    started = time.monotonic()
    first: Sample | None = None
    last = Sample(0, 0.0, ())
    first_at = 0.0
    while alive():
        last = progress()
        if last.events and first is None:
            first, first_at = last, time.monotonic()
        if last.events >= total or last.seconds >= budget_s:
            break
        if first is None and time.monotonic() - started > 90:
            raise TimeoutError("no event processed within 90 s of starting the contender")
        if first is not None and time.monotonic() - first_at > budget_s + 60:
            break  # stalled short of the budget: rated on what it did
        time.sleep(poll_s)
    return first, last


Contender = Callable[[EmbeddedStack, Settings, str, int, float], dict[str, Any]]
"""Run with the stack, the run's settings, its app id, the records to drain, its budget."""


def peer(
    name: str, command: list[str], extra_env: Callable[[EmbeddedStack, Settings, str], dict]
) -> Contender:
    """A contender run as its own process, reporting its progress to a JSON file."""

    def run(
        stack: EmbeddedStack, settings: Settings, app_id: str, total: int, budget_s: float
    ) -> dict[str, Any]:
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

        def progress() -> Sample:
            seen = orjson.loads(report.read_bytes() or b"{}") if report.exists() else {}
            span = seen.get("last", 0.0) - seen.get("first", 0.0)
            return Sample(seen.get("count", 0), span, (seen.get("cpu"),))

        try:
            first, last = _drain(progress, total, budget_s, lambda: proc.poll() is None, 0.2)
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
        (cpu,) = cpu_per_event(first, last)
        return {**_rate(last.events, last.seconds), "cpu_us_per_event": cpu, "peak_rss_mib": rss}

    return run


def faust_peer(kind: str) -> Contender:
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
    stack: EmbeddedStack, settings: Settings, app_id: str, total: int, budget_s: float
) -> dict[str, Any]:
    """The worker writing only Kafka, and an `abm view` process beside it writing Redis.

    Rated on the worker's own span, first event to last (/metrics, scraped once a second);
    then the view's catch-up is timed on its own. The worker runs on the event clock, as
    replay does: the workload's events are up to 30 days old, so on the wall clock its
    first tick round (30 s in) would find up to 15,000 accounts due at once. Ticks still
    come as event time moves on, each re-tiering an account, work `abm_events_total` does
    not count: `abm_ticks_total` counts them, reported beside it."""
    env = view_env({**worker_env(stack, settings, app_id), "ABM_CLOCK": "event"})
    worker = start_worker(env, ARTIFACTS / f"{app_id}.log", with_view=False)
    view = start_view(env, ARTIFACTS / f"{app_id}-view.log")
    port = worker.web_port
    ticks = 0

    def progress() -> Sample:
        nonlocal ticks
        metrics = scrape(port)
        ticks = int(metrics.get(("abm_ticks_total", ()), 0))
        done = sum(v for (name, _), v in metrics.items() if name == "abm_events_total")
        span = metrics.get(("abm_input_span_seconds", ()), 0.0)
        return Sample(int(done), span, (cpu_seconds(worker.proc.pid), cpu_seconds(view.proc.pid)))

    try:
        worker.wait_ready(90)
        view.wait_ready(90)
        first, last = _drain(progress, total, budget_s, lambda: worker.proc.poll() is None, 1.0)
        if worker.proc.poll() is not None:
            tail = worker.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the worker exited with {worker.proc.returncode}:\n{tail}")
        rss = memory_mib(worker.proc.pid)
        catch_up = view_caught_up(view.web_port, 30)
        lag = view_lag(view.web_port)
    finally:
        worker.stop()
        view.stop()
    cpu, view_cpu = cpu_per_event(first, last)
    return {
        **_rate(last.events, last.seconds),
        "cpu_us_per_event": cpu,
        "view_cpu_us_per_event": view_cpu,
        "ticks": ticks,
        "view_catch_up_s": catch_up,
        "peak_rss_mib": rss,
        "view_lag_s": lag,
    }


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


def view_caught_up(port: int, timeout_s: float) -> float | None:
    """Seconds until the view has written every state record it had read when called (the
    worker goes on: the view would never be idle); None if not within `timeout_s`."""
    started = time.monotonic()
    read = _view_counts(port)[0]
    while time.monotonic() - started < timeout_s:
        if _view_counts(port)[1] >= read:
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return None


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
    name: str, stack: EmbeddedStack, workload_on: Settings, total: int, drain_s: float
) -> dict[str, Any]:
    """One run of contender `name` over the `total` records of `workload_on`'s inputs,
    with every other topic of its own."""
    app_id = f"bench-{name}-{next(_runs)}"
    settings = stack.settings(topics=run_topics(workload_on.topics, app_id))
    if name in WRITERS:
        asyncio.run(ensure_topics(settings))
    if name == "ceiling_raw":
        return asyncio.run(ceiling_raw(settings, total))
    if name == "replay":
        return asyncio.run(replay(settings, default_workers(settings)))
    if name == "replay_one_process":
        return asyncio.run(replay(settings, 1))
    if name == "pipeline":
        return pipeline(stack, settings, app_id, total, drain_s)
    if name == "peer_quix":
        return quix_peer(stack, settings, app_id, total, drain_s)
    return faust_peer(PEERS[name])(stack, settings, app_id, total, drain_s)


def produce(settings: Settings, rows: list) -> int:
    asyncio.run(send_rows(settings, rows))
    return len(rows)


def prefixed_topics(
    tag: str, topics: Topics | None = None, keep: frozenset[str] = frozenset()
) -> Topics:
    """Every topic's name (of `topics`, or the defaults) with `tag.` in front, but those
    in `keep`: a workload, or a run, of its own."""
    names = (topics or Topics()).model_dump()
    return Topics(**{k: v if v in keep else f"{tag}.{v}" for k, v in names.items()})


def run_topics(workload_on: Topics, tag: str) -> Topics:
    """The workload's inputs and erasure requests (none) as they are, and every other
    topic (outputs, dead letters, the clock, matching's) prefixed with `tag`. What no
    contender writes is only read, each run from the start with a group of its own, so
    it is produced once and shared; what a run writes is its own, so no later run reads
    an earlier one's ticks or outputs."""
    shared = frozenset({*workload_on.inputs(), workload_on.erasure})
    return prefixed_topics(tag, workload_on, shared)


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
        _goal("pipeline / naive_product", ratio("pipeline", "naive_product"), 1.2),
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
@click.option(
    "--drain-s",
    default=45.0,
    show_default=True,
    help="seconds each faust contender and the worker get, on their own clock",
)
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
@click.option(
    "--seed",
    default=1,
    show_default=True,
    help="the contenders' order in repeat n is shuffled with seed + n",
)
def main(
    events: int,
    accounts: int,
    repeats: int,
    drain_s: float,
    latency_s: float,
    only: str,
    skew: float,
    seed: int,
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
            order = random.Random(seed + n).sample(chosen, len(chosen))
            for position, name in enumerate(order, 1):
                base = name.removesuffix(SKEWED)
                where, count = workloads[SKEWED if base != name else ""]
                figures = run(base, stack, where, count, drain_s)
                figures |= {"repeat": n + 1, "position": position}
                runs[name].append(figures)
                click.echo(f"run {n + 1}.{position} {name:>18}: {_run_line(figures)}")
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
            "seed": seed,
        },
    )


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _run_line(figures: dict[str, Any]) -> str:
    """One run: its rate and CPU per event, what they came from, and the pipeline's ticks,
    view CPU and view catch-up."""
    line = (
        f"{figures['rate']:>10,.0f} events/s, {_us(figures.get('cpu_us_per_event')):>6} us "
        f"CPU/event ({figures['events']:,} in {figures['seconds']}s"
    )
    if "ticks" in figures:
        line += (
            f"; {figures['ticks']:,} ticks; view {_us(figures['view_cpu_us_per_event'])} us "
            f"CPU/event, caught up in {_catch_up(figures['view_catch_up_s'])}"
        )
    return line + ")"


def _catch_up(seconds: float | None) -> str:
    return "over 30 s" if seconds is None else f"{seconds}s"


def _median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def report(runs: dict, medians: dict[str, float], lat: dict, params: dict) -> None:
    click.echo("\nmedians")
    for name, rate in medians.items():
        cpu = _median(runs[name], "cpu_us_per_event")
        rss = _median(runs[name], "peak_rss_mib")
        extra = f"  peak RSS {rss:,.0f} MiB" if rss else ""
        if "view_cpu_us_per_event" in runs[name][0]:
            extra += f"  view {_us(_median(runs[name], 'view_cpu_us_per_event'))} us CPU/event"
            each = ", ".join(_catch_up(r["view_catch_up_s"]) for r in runs[name])
            extra += f", catch-up {each}"
        click.echo(f"  {name:>18}: {rate:>10,.0f} events/s  {_us(cpu):>6} us CPU/event{extra}")
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
        verdict = "not run" if g["value"] is None else "met    " if g["met"] else "NOT met"
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
