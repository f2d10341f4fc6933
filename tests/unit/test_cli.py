"""The `abm` command as a user runs it, where no broker is needed: help and bad settings
(the rest, against the embedded stack: e2e/test_cli.py)."""

import re

from tests.harness import abm


def test_help_explains_every_command():
    out = abm("--help").stdout
    for command in ("stack", "worker", "produce", "tail", "account", "kpis", "demo", "schemas"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), command


def test_bad_settings_fail_fast_with_the_setting_named():
    result = abm("worker", env={"ABM_PARTITIONS": "zero"})
    assert result.returncode == 1
    assert "partitions" in result.stderr
    assert "Traceback" not in result.stderr
