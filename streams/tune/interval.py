"""How sure a lift is: tier 1's opportunity rate over the rest's, with a 95% interval
from a bootstrap over accounts; and whether one rule set's lift beats another's.

Account-days are not independent draws: an account in tier 1 for 60 days that opened one
opportunity counts 60 times. So the interval resamples accounts, each with all its days
(a Poisson bootstrap: every account drawn a Poisson(1) number of times, per resample),
and reads the 2.5th and 97.5th percentiles of the resampled lifts. Two rule sets are
compared on the same resamples, so what the accounts share cancels out. Seeded: a report
gives the same interval for the same history.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DRAWS", "Lift", "Sums", "difference", "lift"]

DRAWS = 1000

Sums = npt.NDArray[np.int64]
"""A row per account: [tier-1 days, of them followed by an opportunity, other days, of
them followed]."""


@dataclass(frozen=True, slots=True)
class Lift:
    value: float | None
    low: float | None
    high: float | None


def _lifts(sums: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The lift of each row (summed Sums columns): NaN where a side has no days, or the
    rest no hits."""
    days1, hits1, days0, hits0 = sums.T
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (hits1 / days1) / (hits0 / days0)
    return np.where(np.isfinite(out), out, np.nan)


def _weights(accounts: int, seed: int) -> npt.NDArray[np.int64]:
    return np.random.default_rng(seed).poisson(1.0, size=(DRAWS, accounts))


def _interval(value: float, draws: npt.NDArray[np.float64]) -> Lift:
    kept = draws[np.isfinite(draws)]
    if len(kept) < DRAWS // 2:  # most resamples had an empty side: no interval to give
        return Lift(value, None, None)
    low, high = np.percentile(kept, [2.5, 97.5])
    return Lift(value, float(low), float(high))


def lift(sums: Sums, seed: int = 0) -> Lift:
    """The lift over all accounts, with its interval; None where a side has no days or
    the rest no hits."""
    value = float(_lifts(sums.sum(axis=0, keepdims=True).astype(np.float64))[0])
    if np.isnan(value):
        return Lift(None, None, None)
    return _interval(value, _lifts((_weights(len(sums), seed) @ sums).astype(np.float64)))


def difference(better: Sums, than: Sums, seed: int = 0) -> Lift:
    """How much `better`'s lift exceeds `than`'s (same accounts, in the same order), with
    the interval of that difference over shared resamples."""
    one, other = lift(better, seed).value, lift(than, seed).value
    if one is None or other is None:
        return Lift(None, None, None)
    weights = _weights(len(better), seed)
    draws = _lifts((weights @ better).astype(np.float64)) - _lifts(
        (weights @ than).astype(np.float64)
    )
    return _interval(one - other, draws)
