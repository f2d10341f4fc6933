"""Driving rule sets over a stream of items: the range filter, and the report."""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from schemas.common import from_ms
from schemas.inputs import AccountProfile
from streams.compiled import mode
from streams.logic.inputs.records import AccountInput, CampaignSpend
from streams.logic.rules import Rules
from streams.logic.signals.journey import stage_counts
from streams.replay.engine import Item, Outcome, Replay

__all__ = ["Counts", "Window", "drive", "summary"]


@dataclass(frozen=True)
class Window:
    """Event-time range [start, end) in epoch ms; None is open. Profiles have no event
    time and are always applied."""

    start: int | None = None
    end: int | None = None

    def holds(self, item: Item) -> bool:
        record = item.record
        if not isinstance(record, AccountInput | CampaignSpend) or isinstance(
            record.event, AccountProfile
        ):
            return True  # no event time: rejected records, profiles, rosters, removals
        return (self.start is None or item.at >= self.start) and (
            self.end is None or item.at < self.end
        )


@dataclass(frozen=True)
class Counts:
    """How much a whole replay read, in how long, with how many processes."""

    read: int
    outside_range: int
    seconds: float
    workers: int

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


async def drive(
    chunks: AsyncIterator[list[Item]],
    replays: list[Replay],
    window: Window,
    progress: Callable[[int], None],
) -> tuple[int, int]:
    """Feed every item in the window to every replay, telling `progress` how many items
    were read after each chunk; return (items read, items outside the window)."""
    read = outside = 0
    everything = window.start is None and window.end is None
    async for chunk in chunks:
        for item in chunk:
            if everything or window.holds(item):
                for replay in replays:
                    replay.feed(item)
            else:
                outside += 1
        read += len(chunk)
        progress(read)
        await asyncio.sleep(0)  # a file's chunks never wait: let the progress bar look
    for replay in replays:
        replay.finish()
    return read, outside


def summary(outcome: Outcome, rules: Rules, counts: Counts, as_of: int | None) -> dict[str, Any]:
    """Everything a replay decided, as JSON-ready data."""
    at = outcome.as_of() if as_of is None else as_of
    return {
        "records": counts.read,
        "outside_range": counts.outside_range,
        "applied": outcome.applied,
        "duplicates": outcome.duplicates,
        "rejected": dict(sorted(outcome.rejected.items())),
        "seconds": round(counts.seconds, 3),
        "events_per_s": round(counts.rate),
        "workers": counts.workers,
        "logic": mode(),
        "as_of": from_ms(at).isoformat().replace("+00:00", "Z") if at else None,
        "tiers": {a: {"tier": t, "rule": r} for a, (t, r) in outcome.tiers.items()},
        "transitions": outcome.changes,
        "stages": outcome.stages,
        "stage_counts": stage_counts(outcome.stages.values(), rules),
        "stage_transitions": outcome.stage_changes,
        "alerts": outcome.alerts,
        "alert_outcomes": outcome.alert_outcomes,
        "kpis": outcome.kpis(rules, at),
    }
