"""Event-time day buckets: which days a window covers and when its content next changes.

A window of N days at time `now` covers the N calendar days (UTC) ending with now's day.
Keeping whole days, rather than Faust windowed tables, keeps the answer a function of
event time alone (Faust expires windows on the wall clock), so replay equals live.
"""

from collections.abc import Iterable

__all__ = ["DAY_MS", "day_of", "in_window", "next_change", "window_start"]

DAY_MS = 86_400_000


def day_of(ms: int) -> int:
    """Days since 1970-01-01 UTC."""
    return ms // DAY_MS


def window_start(now_ms: int, days: int) -> int:
    """The first day a `days`-long window ending on now's day covers."""
    return day_of(now_ms) - days + 1


def in_window(day: int, now_ms: int, days: int) -> bool:
    return window_start(now_ms, days) <= day <= day_of(now_ms)


def next_change(days_with_data: Iterable[int], now_ms: int, days: int) -> int | None:
    """When the window first drops a day that holds data (epoch ms), or None if it holds none.

    That is the earliest moment a recency condition can turn false without new events,
    so the staleness timer need only look at an account then.
    """
    start = window_start(now_ms, days)
    today = day_of(now_ms)
    present = [d for d in days_with_data if start <= d <= today]
    if not present:
        return None
    return (min(present) + days) * DAY_MS
