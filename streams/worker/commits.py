"""The `committed` crash point (crash_points.py), told by faust's sensor hooks: faust
commits input offsets on its own schedule, and only a sensor hears when it has."""

from typing import Any

from faust import Sensor
from faust.types import ConsumerT

from streams.crash_points import CrashPoints

__all__ = ["CommitSensor"]


class CommitSensor(Sensor):
    """The `committed` point: faust tells sensors when a commit round is over, whether or
    not it had offsets to commit; a round counts when the committed offsets moved."""

    def __init__(self, crash: CrashPoints) -> None:
        super().__init__()
        self.crash_points = crash  # not `crash`: a Service's crash() is a method

    def on_commit_initiated(self, consumer: ConsumerT) -> Any:
        return _committed(consumer)

    def on_commit_completed(self, consumer: ConsumerT, state: Any) -> None:
        if _committed(consumer) != state:
            self.crash_points.passed("committed")


def _committed(consumer: ConsumerT) -> dict[Any, int | None]:
    """The offsets faust last committed, per partition (faust keeps no public copy)."""
    return dict(consumer._committed_offset)  # type: ignore[attr-defined]
