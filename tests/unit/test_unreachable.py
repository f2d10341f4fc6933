"""Every command against a broker and Redis that are not there: one line naming what it
could not reach, a non-zero exit, no traceback and no "Unclosed ..." warning on the way out.

Run as real processes: warnings printed at interpreter exit only show there.
"""

import os
import subprocess
import sys

import pytest

BROKER, REDIS = "kafka://127.0.0.1:1", "redis://127.0.0.1:1/0"

COMMANDS = [
    ["produce", "engagement", "examples/events/engagement.jsonl"],
    ["tail", "engagement", "--timeout", "1"],
    ["lag", "--samples", "1"],
    ["account", "acme"],
    ["kpis"],
    ["replay"],
    ["replay", "--input-dir", "examples/events", "--publish", "trial"],
    ["backtest", "--candidate", "examples/precise-alerts.toml"],
    ["forget", "--account", "acme", "--timeout", "5"],
    ["worker"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unreachable_broker_or_redis_is_one_line(command):
    env = {**os.environ, "ABM_KAFKA_BROKER": BROKER, "ABM_REDIS_URL": REDIS}
    done = subprocess.run(
        [sys.executable, "-m", "streams", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode != 0
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: cannot "), lines
    assert "127.0.0.1:1" in lines[0]
