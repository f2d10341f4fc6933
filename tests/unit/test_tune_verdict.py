"""Tune refuses too few outcomes with the counts, and recommends only a gain whose
interval is above zero."""

from hypothesis import given
from hypothesis import strategies as st

from streams.logic.state.windows import DAY_MS
from streams.tune.interval import Lift
from streams.tune.verdict import MIN_OPPORTUNITIES, too_few, verdict


@given(st.lists(st.integers(-50, 120), max_size=150), st.integers(1, 99))
def test_too_few_opportunities_is_refused_with_the_counts(days, split):
    """Days 0 to 100 are the history; outcomes before or after it do not count."""
    created = {"a": sorted(d * DAY_MS for d in days)}
    train = sum(0 <= d < split for d in days)
    test = sum(split <= d < 100 for d in days)
    why = too_few(created, 0, split, 100)
    if train >= MIN_OPPORTUNITIES and test >= MIN_OPPORTUNITIES:
        assert why is None
    else:
        assert why is not None
        assert (f"{train} in the training period" in why) == (train < MIN_OPPORTUNITIES)
        assert (f"{test} in the held-out period" in why) == (test < MIN_OPPORTUNITIES)


def test_only_a_gain_above_its_noise_is_recommended():
    train, test = Lift(3.0, 2.0, 4.0), Lift(2.2, 1.5, 3.0)
    noise = verdict(Lift(0.3, -0.2, 0.8), train, test)
    assert not noise.better
    assert noise.says.startswith("no better than the current rules")
    assert noise.overfit == 3.0 - 2.2
    real = verdict(Lift(0.9, 0.2, 1.6), train, test)
    assert real.better
    assert not verdict(Lift(None, None, None), train, test).better
