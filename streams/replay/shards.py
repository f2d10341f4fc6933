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
import time
from collections.abc import MutableSequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from streams.config import Rules, Settings
from streams.embedded import die_with_parent
from streams.gc_tuning import collect_rarely
from streams.replay.engine import Outcome, Replay
from streams.replay.run import Counts, Window, drive
from streams.replay.sources import Shard, file_items, topic_items

__all__ = ["Job", "default_workers", "processes", "run"]

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


def processes(workers: int) -> str:
    return "1 process" if workers == 1 else f"{workers} processes"


def default_workers(settings: Settings) -> int:
    """One process per core this process may run on, and no more than there are
    partitions to share."""
    return max(1, min(len(os.sched_getaffinity(0)), settings.partitions))


async def _pass(job: Job, shard: Shard, slots: Slots) -> tuple[list[Outcome], int, int]:
    """One shard's pass: (an outcome per rule set, items read, items outside the window)."""
    if job.input_dir is not None:
        chunks, total = file_items(job.settings, job.input_dir, shard)
    else:
        chunks, total = await topic_items(job.settings, shard)
    read_slot = 2 * shard.index
    slots[read_slot + 1] = total

    def progress(read: int) -> None:
        slots[read_slot] = read

    replays = [Replay(rules, job.wall_now, ticks=job.ticks) for rules in job.rules]
    with collect_rarely():
        read, outside = await drive(chunks, replays, job.window, progress)
    return [replay.outcome() for replay in replays], read, outside


_slots: Slots = []


def _adopt(slots: Slots) -> None:
    """Pool initializer: shared memory can only reach a process as it starts; and a shard
    must not outlive a parent killed without the chance to stop it."""
    global _slots
    _slots = slots
    die_with_parent()


def _child(job: Job, shard: Shard) -> tuple[list[Outcome], int, int]:
    return asyncio.run(_pass(job, shard, _slots))


async def _in_processes(
    job: Job, workers: int, slots: Slots
) -> list[tuple[list[Outcome], int, int]]:
    context = multiprocessing.get_context("spawn")  # the parent runs an event loop
    pool = context.Pool(workers, initializer=_adopt, initargs=(slots,))
    try:
        pending = [pool.apply_async(_child, (job, Shard(n, workers))) for n in range(workers)]
        while not all(p.ready() for p in pending):
            for failed in (p for p in pending if p.ready() and not p.successful()):
                failed.get()  # raises the shard's error; the others are stopped below
            await asyncio.sleep(WATCH_S)
        return [p.get() for p in pending]
    finally:
        pool.terminate()
        pool.join()


async def _watch(slots: Slots, started: float) -> None:
    columns = (
        TextColumn("replaying"),
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


async def run(job: Job, workers: int, show: bool) -> tuple[list[Outcome], Counts]:
    """Every rule set's outcome over the whole history, using `workers` processes (1: this
    one), and what was read in how long."""
    started = time.monotonic()
    one = workers == 1
    slots: Slots = (
        [0, 0] if one else multiprocessing.get_context("spawn").Array("q", 2 * workers, lock=False)
    )
    watcher = asyncio.create_task(_watch(slots, started)) if show else None
    try:
        shards = (
            [await _pass(job, Shard(0, 1), slots)]
            if one
            else await _in_processes(job, workers, slots)
        )
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    outcomes = [Outcome.combine([s[0][n] for s in shards]) for n in range(len(job.rules))]
    counts = Counts(
        read=sum(s[1] for s in shards),
        outside_range=sum(s[2] for s in shards),
        seconds=time.monotonic() - started,
        workers=workers,
    )
    return outcomes, counts
