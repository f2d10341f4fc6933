"""Which accounts the staleness timer ticks in one round, at a bounded rate.

Windows are day-aligned, so every account with data in a window falls due at the same
moment, 00:00 UTC: without a bound, that daily burst of ticks (one evaluation each, like
an event) would queue live events behind it for minutes on a large program. A round
takes at most `budget` due accounts, in the due index's order. The timer removes those
from the index until their tick is applied and puts them back at its end, so the next
rounds start with the accounts still waiting: every due account is ticked within
ceil(due / budget) rounds, and a tick-driven change is late by at most that many rounds.
"""

from collections.abc import Mapping

__all__ = ["Due", "due_now", "pick_due"]

Due = tuple[int, int | None]
"""(due_at ms, partition) of an account in the index."""


def due_now(entry: Due | None, now: Mapping[int, int]) -> int | None:
    """The time to tick an account at, if it is due on a partition in `now` (this worker's
    partitions and their 'now')."""
    if entry is None or entry[1] is None:
        return None
    at = now.get(entry[1])
    return at if at is not None and at >= entry[0] else None


def pick_due(
    index: Mapping[str, Due], now: Mapping[int, int], budget: int
) -> list[tuple[str, int, int]]:
    """Up to `budget` (account, partition, time to tick at) due now, in index order. A list,
    not a generator: the index changes while the caller awaits its sends."""
    picked: list[tuple[str, int, int]] = []
    if budget < 1:
        return picked
    for account, (due_at, partition) in index.items():
        at = due_now((due_at, partition), now)
        if at is not None and partition is not None:
            picked.append((account, partition, at))
            if len(picked) == budget:
                break
    return picked
