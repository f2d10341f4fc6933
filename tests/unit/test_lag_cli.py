"""`abm lag` and its exporter with no broker to reach (against offsets on the real broker:
e2e/test_lag_cli.py)."""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from click.testing import CliRunner

from streams.cli import cli
from streams.clients.lag_exporter import LagExporter
from streams.config import Settings
from streams.dev.embedded import free_port
from streams.dev.supervise import scrape


def test_lag_says_which_broker_it_cannot_reach():
    result = CliRunner().invoke(
        cli, ["lag", "--samples", "1"], env={"ABM_KAFKA_BROKER": "kafka://127.0.0.1:1"}
    )
    assert result.exit_code == 1
    assert "cannot read lag from kafka://127.0.0.1:1" in result.output


def test_the_exporter_serves_up_0_while_the_broker_is_unreachable(tmp_path):
    """Down is a figure to alert on, not a crash: the exporter keeps serving."""
    port = free_port()
    env = {**os.environ, "ABM_KAFKA_BROKER": "kafka://127.0.0.1:1"}
    command = [sys.executable, "-m", "streams", "lag", "--serve", str(port), "--every", "1"]
    with (tmp_path / "log").open("wb") as log:
        exporter = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline, health = time.monotonic() + 30, None
            while health is None and time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                except urllib.error.HTTPError as error:
                    health = (error.code, json.loads(error.read()))
                except OSError:
                    time.sleep(0.2)
            assert health is not None, (tmp_path / "log").read_text()
            assert health[0] == 503
            assert "cannot read offsets from kafka://127.0.0.1:1" in health[1]["error"]
            metrics = scrape(port)
            assert metrics[("abm_lag_exporter_up", ())] == 0
            assert not any(name == "abm_group_lag" for name, _ in metrics)
        finally:
            exporter.terminate()
            exporter.wait(10)


def test_the_exporter_says_when_its_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli,
            ["lag", "--serve", str(port)],
            env={"ABM_KAFKA_BROKER": "kafka://127.0.0.1:1"},
        )
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.output


def test_the_lag_exporter_reports_an_unexpected_failure_and_reads_again():
    exporter = LagExporter(Settings(), "group", ["topic"], every_s=0.001)
    calls = []
    seen = []

    async def read_once():
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("a reply nobody foresaw")
        seen.append((exporter.reading.ok, exporter.reading.error))
        raise asyncio.CancelledError

    exporter.read_once = read_once

    async def run():
        with contextlib.suppress(asyncio.CancelledError):
            await exporter.run()

    asyncio.run(run())
    assert len(calls) == 2
    [(ok, error)] = seen  # what /health and abm_lag_exporter_up showed before the next read
    assert not ok
    assert "KeyError" in error
