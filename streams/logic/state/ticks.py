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

__all__ = ["Due", "advance", "due_now", "pick_due", "track_due"]

Due = tuple[int, int | None]
"""(due_at ms, partition) of an account in the index."""


def advance(stream_time: dict[int, int], partition: int | None, at: int) -> None:
    """Move a partition's stream time (the newest event time applied there) on to `at`.

    Stream time only moves forward: it is 'now' for the staleness timer in event-clock
    mode and for replay's final ticks, so a late event must not pull it back.
    """
    if partition is not None and at > stream_time.get(partition, 0):
        stream_time[partition] = at


def track_due(
    index: dict[str, Due], account_id: str, due_at: int | None, partition: int | None
) -> None:
    """Keep an account's entry in the due index in step with its state: the timer reads
    the index, not the table (a RocksDB table would be decoded whole every round)."""
    if due_at is None:
        index.pop(account_id, None)
    else:
        index[account_id] = (due_at, partition)


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
