"""`abm lag` with no broker to reach (against offsets on the real broker: e2e/test_lag_cli.py)."""

from click.testing import CliRunner

from streams.cli import cli


def test_lag_says_which_broker_it_cannot_reach():
    result = CliRunner().invoke(
        cli, ["lag", "--samples", "1"], env={"ABM_KAFKA_BROKER": "kafka://127.0.0.1:1"}
    )
    assert result.exit_code == 1
    assert "cannot read lag from kafka://127.0.0.1:1" in result.output
