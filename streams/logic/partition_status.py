"""Judging a consumer group's progress per partition from offset samples, after Burrow.

A single lag figure cannot tell a busy consumer from a dead one; a short history of
(committed offset, high-water mark) samples can. The rules are Burrow's, simplified to
what our samples hold, plus REWIND for a log that went behind the group's offsets (a
broker that lost its data, a topic recreated).
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["LagStatus", "Sample", "evaluate", "lag_of", "rewound", "stalled"]


class LagStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    """Lag grew at every sample: the consumer is slower than the producers."""
    STALL = "STALL"
    """Committed offsets stopped moving while there is lag: consuming, not progressing."""
    STOP = "STOP"
    """Input is waiting and the group never committed on this partition."""
    REWIND = "REWIND"
    """The log's end is behind the group's offset, or the offset went backwards."""


@dataclass(frozen=True, slots=True)
class Sample:
    committed: int | None
    """The group's committed offset (next to read); None before its first commit."""
    highwater: int
    """The offset the next produced record gets, as a fetch reports it."""


def lag_of(sample: Sample) -> int:
    """Records waiting: everything when nothing was committed; never negative."""
    return max(sample.highwater - (sample.committed or 0), 0)


def _rewound(samples: Sequence[Sample]) -> bool:
    last = samples[-1]
    if last.committed is not None and last.committed > last.highwater:
        return True
    commits = [s.committed for s in samples if s.committed is not None]
    return any(later < earlier for earlier, later in itertools.pairwise(commits))


def evaluate(samples: Sequence[Sample]) -> LagStatus:
    """The status of one partition from its samples, oldest first (at least one)."""
    if not samples:
        raise ValueError("evaluate needs at least one sample")
    if _rewound(samples):
        return LagStatus.REWIND
    last = samples[-1]
    if lag_of(last) == 0:
        return LagStatus.OK
    if all(s.committed is None for s in samples):
        return LagStatus.STOP
    if len(samples) < 2:
        return LagStatus.OK
    lags = [lag_of(s) for s in samples]
    if len({s.committed for s in samples}) == 1 and all(lag > 0 for lag in lags):
        return LagStatus.STALL
    if all(later > earlier for earlier, later in itertools.pairwise(lags)):
        return LagStatus.WARN
    return LagStatus.OK


def rewound(partition: str, highwater: int, read_to: int) -> str | None:
    """Why reading on is wrong when the log ends at or before an offset already processed.

    The broker lost records (restarted without its data, or the topic was recreated):
    new records get offsets the account states have already applied, so each would be
    dropped as a redelivery, silently.
    """
    if highwater > read_to:
        return None
    return (
        f"{partition}: the log ends at offset {highwater} but offset {read_to} was already "
        "processed: the broker lost records (restarted without its data, or the topic was "
        "recreated); the state no longer matches the log, so this worker stops instead of "
        "dropping new records as redeliveries"
    )


def stalled(partition: str, samples: Sequence[Sample]) -> str | None:
    """Why a consumer is hung: records waiting and no movement over all of `samples`."""
    if len(samples) < 2 or evaluate(samples) not in (LagStatus.STALL, LagStatus.STOP):
        return None
    last = samples[-1]
    return (
        f"{partition}: {lag_of(last)} records waiting and the read position has not moved "
        f"from {last.committed} over the whole stall window: the consumer is hung"
    )
