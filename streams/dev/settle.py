"""Waiting until what was sent is in Redis, when `abm view` keeps it: the worker group has
committed every input record (so the changelogs hold the states they made: the worker
acknowledges an event only once its state is stored), then the view has written every
changelog record up to the ends read after that, and published the KPIs.

For the demo's summary and for tests: a fixed sleep would be too short on a slow machine
and too long on a fast one.
"""

import asyncio
import time
from collections.abc import Callable

from streams.clients.group_lag import PartitionOffsets, read_offsets
from streams.config import TABLES, Settings
from streams.dev.supervise import scrape

__all__ = ["matching_settles", "view_holds"]


def _until_none_behind(
    behind: Callable[[], list[PartitionOffsets]], timeout_s: float, what: str
) -> None:
    deadline = time.monotonic() + timeout_s
    while late := behind():
        if time.monotonic() > deadline:
            names = ", ".join(f"{o.topic}[{o.partition}]" for o in late)
            raise TimeoutError(f"{what} not done in {timeout_s:.0f}s for {names}")
        time.sleep(0.2)


def _written_offsets(view_port: int) -> dict[tuple[str, int], float]:
    """What a view process reports as in Redis, per changelog partition."""
    return {
        (labels["topic"], int(labels["partition"])): value
        for (name, pairs), value in scrape(view_port).items()
        if name == "abm_view_written_offset"
        for labels in [dict(pairs)]
    }


def view_holds(settings: Settings, view_ports: list[int], timeout_s: float) -> None:
    """Wait until the worker group has committed every input record, then until the view
    processes (together: each reports its own partitions) have written every changelog
    record as of then."""

    def uncommitted() -> list[PartitionOffsets]:
        inputs = asyncio.run(read_offsets(settings, settings.app_id, settings.topics.inputs()))
        return [o for o in inputs if (o.sample.committed or 0) < o.sample.highwater]

    _until_none_behind(uncommitted, timeout_s, "committing the inputs")
    changelogs = [settings.changelog(table) for table in TABLES]
    ends = asyncio.run(read_offsets(settings, f"{settings.app_id}-view", changelogs))

    def unwritten() -> list[PartitionOffsets]:
        written: dict[tuple[str, int], float] = {}
        for port in view_ports:
            written |= _written_offsets(port)
        return [o for o in ends if written.get((o.topic, o.partition), -1) < o.sample.highwater]

    _until_none_behind(unwritten, timeout_s, "writing the view")


def matching_settles(settings: Settings, timeout_s: float) -> None:
    """Wait until account matching has nothing left: its three topics committed to their
    ends, twice in a row (each step sends on to the next, so one look could fall between
    two of them)."""
    quiet = 0

    def behind() -> list[PartitionOffsets]:
        nonlocal quiet
        topics = settings.topics.identity()
        offsets = asyncio.run(read_offsets(settings, settings.app_id, topics))
        late = [o for o in offsets if (o.sample.committed or 0) < o.sample.highwater]
        quiet = 0 if late else quiet + 1
        return late or ([] if quiet >= 2 else offsets)

    _until_none_behind(behind, timeout_s, "matching Segment calls")
