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
