import gc

import pytest

from streams.gc_tuning import THRESHOLDS, collect_rarely


def test_a_pass_collects_rarely_and_gives_the_thresholds_back() -> None:
    before = gc.get_threshold()
    with collect_rarely():
        assert gc.get_threshold() == THRESHOLDS
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_when_a_pass_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), collect_rarely():
        raise RuntimeError("shard failed")
    assert gc.get_threshold() == before
