"""The lift's bootstrap interval: it holds the lift, it narrows with more accounts, and it
tells a planted difference from none."""

import numpy as np

from streams.tune.interval import lift


def accounts(n: int, days: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` accounts of `days` days each, a day followed by an opportunity at `rate`."""
    rng = np.random.default_rng(seed)
    spans = np.full(n, days, dtype=np.int64)
    return spans, rng.binomial(spans, rate).astype(np.int64)


def measured(n: int, rate1: float, rate0: float, seed: int = 1):
    """Half the accounts in tier 1 all along, half never."""
    d1, h1 = accounts(n, 30, rate1, seed)
    d0, h0 = accounts(n, 30, rate0, seed + 1)
    zeros = np.zeros(n, dtype=np.int64)
    return lift(
        np.concatenate([d1, zeros]),
        np.concatenate([h1, zeros]),
        np.concatenate([zeros, d0]),
        np.concatenate([zeros, h0]),
    )


def test_a_planted_lift_is_found_and_none_is_not():
    planted = measured(400, 0.10, 0.02)
    assert planted.low is not None
    assert 1 < planted.low < planted.value < planted.high
    assert abs(planted.value - 5) < 1.5
    same = measured(400, 0.05, 0.05)
    assert same.low < 1 < same.high


def test_more_accounts_narrow_the_interval():
    few, many = measured(50, 0.1, 0.05), measured(2000, 0.1, 0.05)
    assert many.high - many.low < (few.high - few.low) / 3


def test_no_hits_outside_tier_1_is_no_lift():
    days, hits = accounts(10, 30, 0.1, 3)
    none = np.zeros(10, dtype=np.int64)
    assert lift(days, hits, days, none).value is None
