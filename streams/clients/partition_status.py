"""Judging a consumer group's progress per partition from offset samples, after Burrow.

A single lag figure cannot tell a busy consumer from a dead one; a short history of
(committed offset, high-water mark) samples can. The rules are Burrow's, simplified to
what our samples hold, plus REWIND for a log that went behind the group's offsets (a
broker that lost its data, a topic recreated).
"""

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "SUSTAINED_S",
    "LagStatus",
    "Sample",
    "Samples",
    "evaluate",
    "evidence",
    "lag_of",
    "rewound",
    "stalled",
]

SUSTAINED_S = 6.0
"""How long samples must span before a partition is called STALL or WARN: a live consumer
commits every few seconds (faust: 2.8 s), so two samples a second apart with the same
committed offset and a few records waiting say nothing. `abm lag`, the dashboard and the
lag exporter all judge on this span, so they agree."""


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
    at: float = 0.0
    """When it was read, in seconds on any clock that does not jump (monotonic)."""


def lag_of(sample: Sample) -> int:
    """Records waiting: everything when nothing was committed; never negative."""
    return max(sample.highwater - (sample.committed or 0), 0)


def _rewound(samples: Sequence[Sample]) -> bool:
    last = samples[-1]
    if last.committed is not None and last.committed > last.highwater:
        return True
    commits = [s.committed for s in samples if s.committed is not None]
    return any(later < earlier for earlier, later in itertools.pairwise(commits))


def evidence(samples: Sequence[Sample], sustained_s: float) -> Sequence[Sample]:
    """The shortest run of the latest samples that spans `sustained_s` (all, if none does).

    Judging on a fixed span, not on however many samples happen to be kept, is what makes
    a status mean the same whether samples came every second or every minute.
    """
    last = samples[-1].at
    for start in range(len(samples) - 1, -1, -1):
        if last - samples[start].at >= sustained_s:
            return samples[start:]
    return samples


def evaluate(samples: Sequence[Sample], sustained_s: float = 0.0) -> LagStatus:
    """The status of one partition from its samples, oldest first (at least one).

    STALL and WARN are claims about a trend: they need samples spanning `sustained_s`.
    """
    if not samples:
        raise ValueError("evaluate needs at least one sample")
    if _rewound(samples):
        return LagStatus.REWIND
    last = samples[-1]
    if lag_of(last) == 0:
        return LagStatus.OK
    if all(s.committed is None for s in samples):
        return LagStatus.STOP
    if len(samples) < 2 or last.at - samples[0].at < sustained_s:
        return LagStatus.OK
    lags = [lag_of(s) for s in samples]
    if len({s.committed for s in samples}) == 1 and all(lag > 0 for lag in lags):
        return LagStatus.STALL
    if all(later > earlier for earlier, later in itertools.pairwise(lags)):
        return LagStatus.WARN
    return LagStatus.OK


class Samples:
    """One partition's recent samples, each new one judged on the last `sustained_s`.

    Samples closer together than a quarter of that span are judged but not kept, so
    several readers sampling at once cannot crowd the evidence into a second, and memory
    stays bounded (twice the span at the densest).
    """

    def __init__(self, sustained_s: float = SUSTAINED_S) -> None:
        self.sustained_s = sustained_s
        self.kept: deque[Sample] = deque(maxlen=8)

    def observe(self, sample: Sample) -> LagStatus:
        if not self.kept or sample.at - self.kept[-1].at >= self.sustained_s / 4:
            self.kept.append(sample)
            judged: list[Sample] = list(self.kept)
        else:
            judged = [*self.kept, sample]
        return evaluate(evidence(judged, self.sustained_s), self.sustained_s)


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
