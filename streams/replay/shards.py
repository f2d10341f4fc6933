"""A pass over history in several processes: each drives its share of the partitions
through its own engines; the parent shows one progress bar and combines their outcomes.

The per-event work is pure Python and holds one core. Every input topic is partitioned by
owner, so an account's whole history sits under one partition number of each topic and
the partitions split the work with nothing shared: the shards' outcomes combine into what
one process would have decided (engine.Outcome.combine), whatever the number of them.
"""

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine, MutableSequence
from dataclasses import dataclass, field, replace
from functools import partial
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from schemas.inputs import ErasureRequest
from streams.child_processes import die_with_parent
from streams.config import Settings
from streams.gc_tuning import collector_off
from streams.logic.rules import Rules
from streams.replay.engine import Outcome, Replay
from streams.replay.erasures import ErasurePlan
from streams.replay.run import Counts, Window, drive
from streams.replay.sources import Chunks, Shard, erasure_requests, file_items, topic_items

__all__ = [
    "Job",
    "ShardError",
    "Slots",
    "Work",
    "default_workers",
    "in_shards",
    "processes",
    "run",
    "shard_items",
    "start_method",
]

WATCH_S = 0.2
Slots = MutableSequence[int]
"""Per shard: items read so far, then how many there are (shared memory across processes)."""


@dataclass(frozen=True)
class Job:
    """One pass over history: what to read, and the rule sets that decide over it."""

    settings: Settings
    rules: tuple[Rules, ...]
    input_dir: Path | None
    window: Window
    ticks: bool
    wall_now: int = field(default_factory=lambda: int(time.time() * 1000))
    """The time now for every shard: events after it (and a margin) are refused."""
    erasures: tuple[ErasureRequest, ...] = ()
    """The erasure requests so far, which every shard applies (replay/erasures.py)."""


def start_method() -> str:
    """How shard processes start: forked while this process runs one thread, each then
    starting in milliseconds with every module already imported, where a spawned one
    imports them again (0.3 s of CPU each: 2 processes replayed 210,000 events from
    files in 2.6 s forked, 3.0 s spawned). A fork copies only the forking thread, and
    with it any lock another thread held at that instant, which the child could then
    wait on forever: with other threads alive (or no fork on this platform), spawn.
    Forked inside the running event loop is safe: the child runs its own loop and never
    returns into the parent's."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def processes(workers: int) -> str:
    return "1 process" if workers == 1 else f"{workers} processes"


def default_workers(settings: Settings) -> int:
    """One process per core this process may run on, and no more than there are
    partitions to share."""
    return max(1, min(len(os.sched_getaffinity(0)), settings.partitions))


ShardResult = tuple[list[Outcome], int, int]
"""An outcome per rule set, items read, items outside the window."""

Work = Callable[[Shard, Slots, Callable[[Any], None]], Coroutine[Any, Any, None]]
"""One shard's pass: it reads the shard's items, counts them in its slots, and hands its
result to the callable (picklable when processes are spawned: a partial of a function)."""


async def shard_items(
    settings: Settings, input_dir: Path | None, shard: Shard, slots: Slots
) -> tuple[Chunks, Callable[[int], None]]:
    """The shard's items (from files, or the topics), and what to tell of how many of them
    were read so far (the progress bar reads it)."""
    if input_dir is not None:
        chunks, total = file_items(settings, input_dir, shard)
    else:
        chunks, total = await topic_items(settings, shard)
    read_slot = 2 * shard.index
    slots[read_slot + 1] = total

    def progress(read: int) -> None:
        slots[read_slot] = read

    return chunks, progress


async def _pass(
    job: Job, shard: Shard, slots: Slots, deliver: Callable[[ShardResult], None]
) -> None:
    """One shard's pass, its result handed to `deliver` while the account states it built
    still exist: freeing them takes as long as sending the result (~0.15 s for 10,000
    accounts), so a shard's process sends first and its parent need not wait for that."""
    chunks, progress = await shard_items(job.settings, job.input_dir, shard, slots)
    plan = ErasurePlan(job.erasures, job.settings.erasure_key_bytes())
    erasures = plan if plan else None
    replays = [
        Replay(rules, job.wall_now, ticks=job.ticks, erasures=erasures) for rules in job.rules
    ]
    with collector_off():  # the outcomes too: they allocate as much again
        read, outside = await drive(chunks, replays, job.window, progress)
        deliver(([replay.outcome() for replay in replays], read, outside))


class ShardError(RuntimeError):
    """A shard's process ended without an outcome (killed, or crashed in native code), or
    failed with an error that could not be sent back as it was."""


def _shard(work: Work, shard: Shard, slots: Slots, results: Connection) -> None:
    """A shard's process: its outcome, or its error, goes back through `results`. It must
    not outlive a parent killed without the chance to stop it. Ctrl-C is the parent's to
    handle (it stops its shards): a forked shard would otherwise run the parent's handler."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(work(shard, slots, lambda result: results.send((True, result))))
    except Exception as exc:
        try:
            results.send((False, exc))
        except Exception:  # an error that does not pickle still says what it was
            results.send((False, ShardError(f"{type(exc).__name__}: {exc}")))


async def _in_processes(work: Work, workers: int, slots: Slots) -> list[Any]:
    """One process per shard (not a Pool: a Pool replaces a worker that dies and waits
    for its task forever); the first error or death stops them all."""
    # Typed as the base context, which mypy's stubs give no Process.
    context: Any = multiprocessing.get_context(start_method())
    running: list[tuple[BaseProcess, Connection]] = []
    done: dict[int, Any] = {}
    try:
        for n in range(workers):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_shard, args=(work, Shard(n, workers), slots, send))
            process.start()
            send.close()
            running.append((process, receive))
        while len(done) < workers:
            # Waited for in a thread: the loop stays free for the progress bar, and a
            # result is taken the moment it arrives (a poll every WATCH_S took 0.2-0.4 s).
            waiting = [receive for n, (_, receive) in enumerate(running) if n not in done]
            ready = await asyncio.to_thread(wait, waiting, WATCH_S)
            for n, (process, receive) in enumerate(running):
                if receive not in ready:
                    continue
                try:  # the pipe ends when the process does: with a result, or without
                    ok, value = receive.recv()
                except EOFError:
                    process.join()
                    raise ShardError(
                        f"replay process {n + 1} of {workers} ended without a result "
                        f"(exit code {process.exitcode})"
                    ) from None
                if not ok:
                    raise value
                done[n] = value
        return [done[n] for n in range(workers)]
    finally:
        for process, receive in running:
            if process.is_alive():
                process.terminate()
            process.join()
            receive.close()


async def _watch(slots: Slots, started: float, doing: str) -> None:
    columns = (
        TextColumn(doing),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8,.0f} ev/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("replay", total=None, rate=0.0)
        while True:
            read, total = sum(slots[0::2]), sum(slots[1::2])
            rate = read / max(time.monotonic() - started, 1e-9)
            bar.update(task, completed=read, total=total or None, rate=rate)
            await asyncio.sleep(WATCH_S)


async def in_shards(work: Work, workers: int, show: bool, doing: str = "replaying") -> list[Any]:
    """Each shard's result of `work`, in shard order, using `workers` processes (1: this
    one), with a progress bar saying what it is `doing` when `show`."""
    started = time.monotonic()
    one = workers == 1
    slots: Slots = [0, 0] if one else multiprocessing.Array("q", 2 * workers, lock=False)
    watcher = asyncio.create_task(_watch(slots, started, doing)) if show else None
    try:
        if not one:
            return await _in_processes(work, workers, slots)
        results: list[Any] = []
        await work(Shard(0, 1), slots, results.append)
        return results
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


async def run(job: Job, workers: int, show: bool) -> tuple[list[Outcome], Counts]:
    """Every rule set's outcome over the whole history, using `workers` processes (1: this
    one), and what was read in how long."""
    started = time.monotonic()
    # Read once, here: every shard applies all of them (an account's requests are few).
    job = replace(job, erasures=tuple(await erasure_requests(job.settings, job.input_dir)))
    shards: list[ShardResult] = await in_shards(partial(_pass, job), workers, show)
    outcomes = [Outcome.combine([s[0][n] for s in shards]) for n in range(len(job.rules))]
    counts = Counts(
        read=sum(s[1] for s in shards),
        outside_range=sum(s[2] for s in shards),
        seconds=time.monotonic() - started,
        workers=workers,
    )
    return outcomes, counts
