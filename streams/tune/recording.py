"""The recording pass in several processes, as `abm replay` shares its pass: each shard
records its partitions' accounts (table.Recorder), and the parent assembles one table.
Every input topic is partitioned by owner, so no account is in two shards."""

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path

from schemas.inputs import ErasureRequest
from streams.config import Settings
from streams.gc_tuning import collector_off
from streams.logic.rules import Rules
from streams.replay import shards
from streams.replay.erasures import ErasurePlan
from streams.replay.shards import Slots
from streams.replay.sources import Shard, erasure_requests
from streams.tune.table import Part, Recorder, Table, assemble

__all__ = ["record"]


async def _shard(
    settings: Settings,
    rules: Rules,
    input_dir: Path | None,
    wall_now: int,
    requests: tuple[ErasureRequest, ...],
    shard: Shard,
    slots: Slots,
    deliver: Callable[[Part], None],
) -> None:
    chunks, progress = await shards.shard_items(settings, input_dir, shard, slots)
    plan = ErasurePlan(requests, settings.erasure_key_bytes())
    recorder = Recorder(rules, wall_now, erasures=plan if plan else None)
    read = 0
    with collector_off():  # the runs are many small objects with no cycles, as states are
        async for chunk in chunks:
            for item in chunk:
                recorder.feed(item)
            read += len(chunk)
            progress(read)
            await asyncio.sleep(0)  # a file's chunks never wait: let the progress bar look
        deliver(recorder.part())


async def record(
    settings: Settings,
    rules: Rules,
    input_dir: Path | None,
    wall_now: int,
    workers: int = 1,
    show: bool = False,
) -> Table:
    """The table of one pass over the whole history (files, or the input topics), in
    `workers` processes."""
    requests = tuple(await erasure_requests(settings, input_dir))
    work = partial(_shard, settings, rules, input_dir, wall_now, requests)
    with collector_off():  # the shards' runs arrive as many objects again
        parts: list[Part] = await shards.in_shards(work, workers, show, "recording")
        return assemble(parts)
