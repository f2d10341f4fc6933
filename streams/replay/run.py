"""Driving rule sets over a stream of items: range filter, progress, and the report."""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from schemas.common import from_ms
from schemas.inputs import AccountProfile
from streams.replay.engine import Item, Replay

__all__ = ["Window", "drive", "summary"]


@dataclass(frozen=True)
class Window:
    """Event-time range [start, end) in epoch ms; None is open. Profiles have no event
    time and are always applied."""

    start: int | None = None
    end: int | None = None

    def holds(self, item: Item) -> bool:
        if isinstance(item.event, AccountProfile) or item.event is None:
            return True
        return (self.start is None or item.at >= self.start) and (
            self.end is None or item.at < self.end
        )


async def drive(
    chunks: AsyncIterator[list[Item]], total: int, replays: list[Replay], window: Window, show: bool
) -> dict[str, float]:
    """Feed every item in the window to every replay; return counts and the rate."""
    read = outside = 0
    started = time.monotonic()
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8,.0f} ev/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not show, transient=True) as progress:
        task = progress.add_task("replay", total=total, rate=0.0)
        async for chunk in chunks:
            for item in chunk:
                if window.holds(item):
                    for replay in replays:
                        replay.feed(item)
                else:
                    outside += 1
            read += len(chunk)
            rate = read / max(time.monotonic() - started, 1e-9)
            progress.update(task, completed=read, rate=rate)
    for replay in replays:
        replay.finish()
    elapsed = time.monotonic() - started
    return {
        "read": read,
        "outside_range": outside,
        "seconds": elapsed,
        "rate": read / elapsed if elapsed else 0.0,
    }


def summary(replay: Replay, counts: dict[str, float], as_of: int | None) -> dict[str, Any]:
    """Everything a replay decided, as JSON-ready data."""
    at = replay.as_of() if as_of is None else as_of
    return {
        "records": int(counts["read"]),
        "outside_range": int(counts["outside_range"]),
        "applied": replay.applied,
        "duplicates": replay.duplicates,
        "rejected": dict(sorted(replay.rejected.items())),
        "seconds": round(counts["seconds"], 3),
        "events_per_s": round(counts["rate"]),
        "as_of": from_ms(at).isoformat().replace("+00:00", "Z") if at else None,
        "tiers": {a: {"tier": t, "rule": r} for a, (t, r) in replay.tiers().items()},
        "transitions": [c.model_dump(mode="json") for c in replay.changes],
        "alerts": [a.model_dump(mode="json") for a in replay.alerts],
        "kpis": replay.kpis(at),
    }
