"""`abm tune` reading the input topics (no --input-dir) on the real broker: the same
report as from the files the topics were filled from."""

import json

import orjson
from click.testing import CliRunner

from streams.cli import cli
from streams.dev.planted import write_history
from streams.logic.inputs.decode import InputKind
from tests.harness import pipeline_settings, send_rows

FIRST = (InputKind.ACCOUNTS, InputKind.CONTACTS)


def tune(env: dict[str, str], report, *args: str) -> dict:
    result = CliRunner().invoke(
        cli, ["tune", "--workers", "1", "--json", str(report), *args], env=env
    )
    assert result.exit_code in (0, 2), result.output
    return json.loads(report.read_text())


def test_tune_reads_the_topics_as_it_reads_files(stack, tmp_path):
    settings, env = pipeline_settings(stack)
    history = tmp_path / "history"
    history.mkdir()
    write_history(history, accounts=300, days=200, seed=2, base_rate=0.004)
    kinds = [*FIRST, *(k for k in InputKind if k not in FIRST)]
    rows = [
        (str(kind), orjson.loads(line))
        for kind in kinds
        if (history / f"{kind}.jsonl").is_file()
        for line in (history / f"{kind}.jsonl").read_bytes().splitlines()
        if line.strip()
    ]
    send_rows(settings, rows)
    env = env | {"ABM_CONFIG_FILE": None}
    from_topics = tune(env, tmp_path / "topics.json")
    from_files = tune(env, tmp_path / "files.json", "--input-dir", str(history))
    assert from_topics["replay_matches"] == {"current": True, "tuned": True}
    for key in ("periods", "outcomes", "accounts", "train", "test", "changes", "verdict"):
        assert from_topics[key] == from_files[key], key
