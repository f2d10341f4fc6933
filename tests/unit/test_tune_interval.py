"""The lift's bootstrap interval: it holds the lift, it narrows with more accounts, it
tells a planted difference from none; and a difference of two lifts likewise."""

import numpy as np

from streams.tune.interval import difference, lift


def sums(n: int, rate1: float, rate0: float, seed: int = 1) -> np.ndarray:
    """Half of `n * 2` accounts in tier 1 for 30 days, half never; a day is followed by
    an opportunity at `rate1` or `rate0`."""
    rng = np.random.default_rng(seed)
    days = np.full(n, 30, dtype=np.int64)
    zeros = np.zeros(n, dtype=np.int64)
    tier1 = np.stack([days, rng.binomial(days, rate1), zeros, zeros], axis=1)
    rest = np.stack([zeros, zeros, days, rng.binomial(days, rate0)], axis=1)
    return np.concatenate([tier1, rest]).astype(np.int64)


def test_a_planted_lift_is_found_and_none_is_not():
    planted = lift(sums(400, 0.10, 0.02))
    assert planted.low is not None
    assert 1 < planted.low < planted.value < planted.high
    assert abs(planted.value - 5) < 1.5
    same = lift(sums(400, 0.05, 0.05))
    assert same.low < 1 < same.high


def test_more_accounts_narrow_the_interval():
    few, many = lift(sums(50, 0.1, 0.05)), lift(sums(2000, 0.1, 0.05))
    assert many.high - many.low < (few.high - few.low) / 3


def test_no_hits_outside_tier_1_is_no_lift():
    none = sums(10, 0.1, 0.0)
    assert lift(none).value is None


def test_a_difference_is_told_from_noise():
    """The same accounts under two rule sets: one splits them as planted, one at random."""
    planted = sums(400, 0.10, 0.02)
    rng = np.random.default_rng(5)
    shuffled = planted.copy()
    mixed = rng.random(len(planted)) < 0.5
    # The random split: an account's days go to tier 1 or the rest by a coin, not its rate.
    days, hits = planted[:, 0] + planted[:, 2], planted[:, 1] + planted[:, 3]
    shuffled[:, 0], shuffled[:, 1] = np.where(mixed, days, 0), np.where(mixed, hits, 0)
    shuffled[:, 2], shuffled[:, 3] = np.where(mixed, 0, days), np.where(mixed, 0, hits)
    gained = difference(planted, shuffled)
    assert gained.low is not None
    assert 0 < gained.low < gained.value
    itself = difference(planted, planted)
    assert (itself.value, itself.low, itself.high) == (0.0, 0.0, 0.0)
