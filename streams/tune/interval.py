"""How sure a lift is: tier 1's opportunity rate over the rest's, with a 95% interval
from a bootstrap over accounts.

Account-days are not independent draws: an account in tier 1 for 60 days that opened one
opportunity counts 60 times. So the interval resamples accounts, each with all its days
(a Poisson bootstrap: every account drawn a Poisson(1) number of times, per resample),
and reads the 2.5th and 97.5th percentiles of the resampled lifts. Seeded: a report
gives the same interval for the same history.
"""

from dataclasses import dataclass

import numpy as np

from streams.tune.columns import Ints

__all__ = ["DRAWS", "Lift", "lift"]

DRAWS = 1000


@dataclass(frozen=True, slots=True)
class Lift:
    value: float | None
    low: float | None
    high: float | None


def lift(
    tier1_days: Ints, tier1_hits: Ints, rest_days: Ints, rest_hits: Ints, seed: int = 0
) -> Lift:
    """Per account (a row each): its days in tier 1 and those an opportunity followed,
    and the same for its other days. None where a rate has no days or no hits."""
    value = _ratio(tier1_hits.sum(), tier1_days.sum(), rest_hits.sum(), rest_days.sum())
    if value is None:
        return Lift(None, None, None)
    weights = np.random.default_rng(seed).poisson(1.0, size=(DRAWS, len(tier1_days)))
    sums = weights @ np.stack([tier1_hits, tier1_days, rest_hits, rest_days], axis=1)
    hits1, days1, hits0, days0 = sums.T.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = (hits1 / days1) / (hits0 / days0)
    draws = draws[np.isfinite(draws)]
    if len(draws) < DRAWS // 2:  # most resamples had an empty side: no interval to give
        return Lift(value, None, None)
    low, high = np.percentile(draws, [2.5, 97.5])
    return Lift(value, float(low), float(high))


def _ratio(hits1: int, days1: int, hits0: int, days0: int) -> float | None:
    if not days1 or not days0 or not hits0:
        return None
    return float((hits1 / days1) / (hits0 / days0))
