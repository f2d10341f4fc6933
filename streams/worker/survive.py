"""A worker's timers outlive their own bugs: a round that raises is logged and counted,
and the timer runs again at its next round.

faust treats an exception escaping a timer as the app's crash, and the worker exits: one
unexpected state record, or a Redis reply nobody foresaw, would stop every partition the
worker owns. A round that fails leaves what it was doing for the next (ticks due stay
due; accounts to write stay marked), so going on loses nothing.
"""

import functools
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

__all__ = ["survive"]

log = logging.getLogger(__name__)

Round = Callable[[], Awaitable[None]]


def survive(name: str, errors: Counter) -> Callable[[Round], Round]:
    """The timer's round, which counts a failure in `errors{task=name}` instead of raising."""
    failed = errors.labels(name)

    def wrap(round_: Round) -> Round:
        @functools.wraps(round_)
        async def guarded() -> None:
            try:
                await round_()
            except Exception:
                failed.inc()
                log.exception("%s failed; it runs again at its next round", name)

        return guarded

    return wrap
