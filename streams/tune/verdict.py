"""What `abm tune` may honestly say: refuse when too few outcomes train or test it, and
recommend the tuned rules only when their held-out lift beats the current rules' by more
than the noise.
"""

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streams.logic.state.windows import DAY_MS
from streams.tune.interval import Lift

__all__ = ["MIN_OPPORTUNITIES", "Verdict", "outcome_counts", "too_few", "verdict"]

MIN_OPPORTUNITIES = 30
"""Opportunities each period needs: fewer, and any rule looks as good as another."""


def outcome_counts(
    created: Mapping[str, Sequence[int]], first_day: int, split_day: int, end_day: int
) -> tuple[int, int]:
    """Opportunities created in the training period [first, split) and the held-out one
    [split, end); `created`: each account's creation times, sorted."""
    first, split, end = first_day * DAY_MS, split_day * DAY_MS, end_day * DAY_MS
    train = sum(bisect_left(times, split) - bisect_left(times, first) for times in created.values())
    test = sum(bisect_left(times, end) - bisect_left(times, split) for times in created.values())
    return train, test


def too_few(
    created: Mapping[str, Sequence[int]], first_day: int, split_day: int, end_day: int
) -> str | None:
    """Why the history cannot be tuned on (a count too small in either period), or None."""
    train, test = outcome_counts(created, first_day, split_day, end_day)
    short = [
        f"{n} in the {name} period"
        for name, n in (("training", train), ("held-out", test))
        if n < MIN_OPPORTUNITIES
    ]
    if not short:
        return None
    return (
        f"too few opportunities to tune on: {' and '.join(short)} "
        f"(at least {MIN_OPPORTUNITIES} in each)"
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    better: bool
    says: str
    overfit: float | None
    """The tuned rules' training lift less their held-out lift: what the search fitted
    to the training period alone."""


def verdict(gain: Lift, train: Lift, test: Lift) -> Verdict:
    """`gain`: the tuned rules' held-out lift less the current rules', with its interval;
    `train`, `test`: the tuned rules' own lifts."""
    overfit = None if train.value is None or test.value is None else train.value - test.value
    if gain.low is None or gain.low <= 0:
        shown = "no interval" if gain.low is None else f"{gain.low:+.2f} to {gain.high:+.2f}"
        return Verdict(False, f"no better than the current rules (gain {shown})", overfit)
    return Verdict(
        True,
        f"better than the current rules: lift {gain.value:+.2f} ({gain.low:+.2f} to "
        f"{gain.high:+.2f}) on the held-out period",
        overfit,
    )
