"""`abm replay --publish PREFIX` refuses a live or malformed prefix before reading anything
(publishing on the real broker and Redis: e2e/test_replay_publish.py)."""

import pytest
from click.testing import CliRunner

from streams.cli import cli


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        (
            "abm",
            "would write to the live abm.tier-changes.v1, abm.stage-changes.v1, "
            "abm.surge-alerts.v1, abm.alert-outcomes.v1, Redis keys",
        ),
        ("Backtest:1", "use 1-41 lowercase letters"),
        ("", "use 1-41 lowercase letters"),
    ],
)
def test_a_prefix_that_is_live_or_malformed_is_refused_before_reading(tmp_path, prefix, message):
    result = CliRunner().invoke(
        cli, ["replay", "--input-dir", str(tmp_path), "--publish", prefix], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert message in result.output
