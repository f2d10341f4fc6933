"""Crash points: the steps between applying an input and committing its offset, where a
crash test makes the worker kill itself.

`ABM_CRASH_AT=POINT:N` sends this process SIGKILL the N-th time it passes POINT: nothing
runs after it (no flush, no commit, no shutdown hook), as when the machine dies. The
crash test (tests/e2e/test_crash_points.py) arms each point in turn, restarts the worker,
and checks that the outputs and every KPI equal a single pass: so "stored before it is
acknowledged" is proved at each step, not left to where a random kill happens to land.
Unarmed (production), passing a point costs one comparison.
"""

import logging
import os
import signal
from typing import Final

__all__ = ["POINTS", "CrashPoints", "parse"]

log = logging.getLogger(__name__)

POINTS: Final = {
    "applied": "an input changed a state in the table's store (memory), not yet stored",
    "output-delivered": "the broker acknowledged an output; the state behind it not yet stored",
    "accounts-stored": "a flush's account records are acknowledged; other tables' may not be",
    "campaigns-stored": "a flush's campaign spend records are acknowledged",
    "rosters-stored": "a flush's roster records are acknowledged",
    "stored": "every record of a flush is acknowledged; its inputs are not yet",
    "acked": "a flush's inputs are acknowledged to faust; their offsets not yet committed",
    "committed": "faust committed input offsets to the broker",
}
"""Each point, in the order an input passes them, and what is stored when it is reached."""


def parse(spec: str) -> tuple[str, int]:
    """`POINT:N` -> (point, n); ValueError naming what is wrong."""
    point, _, count = spec.partition(":")
    if point not in POINTS:
        raise ValueError(f"unknown crash point {point!r}; one of: {', '.join(POINTS)}")
    if not count.isascii() or not count.isdecimal() or int(count) < 1:
        raise ValueError(f"crash_at {spec!r}: give POINT:N, N a whole number >= 1")
    return point, int(count)


class CrashPoints:
    """Counts passes of the armed point; kills the process at the N-th."""

    __slots__ = ("left", "point")

    def __init__(self, spec: str | None) -> None:
        self.point, self.left = parse(spec) if spec else ("", 0)

    def passed(self, point: str) -> None:
        if point == self.point:
            self.left -= 1
            if self.left == 0:
                log.warning("crash point %s reached: killing this worker (SIGKILL)", point)
                logging.shutdown()  # the line above reaches the log before the end
                os.kill(os.getpid(), signal.SIGKILL)
