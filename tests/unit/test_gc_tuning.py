import gc

import pytest

from streams.gc_tuning import collector_off


@pytest.mark.parametrize("enabled", [True, False])
def test_a_pass_runs_without_collections_and_gives_the_setting_back(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        with collector_off():
            assert not gc.isenabled()
        assert gc.isenabled() == enabled
    finally:
        gc.enable()


def test_the_setting_comes_back_when_a_pass_fails() -> None:
    with pytest.raises(RuntimeError), collector_off():
        raise RuntimeError("shard failed")
    assert gc.isenabled()


def test_what_a_pass_built_is_not_left_young() -> None:
    """Else the first allocation after the pass would scan all of it in a young collection."""
    young = gc.get_stats()[0]["collections"]
    with collector_off():
        built = [[n] for n in range(100_000)]
    assert gc.get_stats()[0]["collections"] == young
    assert len(built) == 100_000
