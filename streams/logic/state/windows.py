"""Event-time day buckets: which days a window covers.

A window of N days at time `now` covers the N calendar days (UTC) ending with now's day.
Keeping whole days, rather than Faust windowed tables, keeps the answer a function of
event time alone (Faust expires windows on the wall clock), so replay equals live.
"""

__all__ = ["DAY_MS", "WEEK_DAYS", "day_of", "in_window", "sooner", "window_start"]

DAY_MS = 86_400_000
WEEK_DAYS = 7


def day_of(ms: int) -> int:
    """Days since 1970-01-01 UTC."""
    return ms // DAY_MS


def window_start(now_ms: int, days: int) -> int:
    """The first day a `days`-long window ending on now's day covers."""
    return day_of(now_ms) - days + 1


def in_window(day: int, now_ms: int, days: int) -> bool:
    return window_start(now_ms, days) <= day <= day_of(now_ms)


def sooner(a: int | None, b: int | None) -> int | None:
    """The earlier of two due times, either of which may be None (not due)."""
    if a is None:
        return b
    return a if b is None or a <= b else b
