"""`abm backtest` on histories whose difference is known by construction (JSON-lines input)."""

import json
import time

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.cli import cli

NOW = int(time.time() * 1000)
HOUR = 3_600_000
BASELINE_ACV, CANDIDATE_ACV = 50_000, 100_000


def write_history(directory, acvs: list[int]) -> None:
    """Accounts that fit, research a topic and engage; only their ACV differs."""
    profiles, intent, engagement = [], [], []
    for n, acv in enumerate(acvs):
        account = f"acct-{n}"
        profiles.append(
            {"account_id": account, "name": account, "fit_score": 85, "expected_acv": acv}
        )
        intent.append(
            {
                "event_id": f"i{n}",
                "account_id": account,
                "provider": "bombora",
                "topic": "crm",
                "score": 72,
                "occurred_at": NOW - 30 * HOUR,
            }
        )
        for k in range(3):
            engagement.append(
                {
                    "event_id": f"e{n}-{k}",
                    "account_id": account,
                    "contact_id": f"c{k}",
                    "channel": "sales",
                    "action": "meeting",
                    "occurred_at": NOW - (20 - k) * HOUR,
                }
            )
    for name, rows in (("accounts", profiles), ("intent", intent), ("engagement", engagement)):
        (directory / f"{name}.jsonl").write_bytes(b"\n".join(map(orjson.dumps, rows)) + b"\n")


def candidate_file(directory, min_acv: int):
    path = directory / "candidate.toml"
    path.write_text(f"""
[[rules.tiers]]
tier = 1
name = "big-and-ready"
min_fit = 70
min_acv = {min_acv}
signals = ["intent", "engagement"]
[[rules.tiers]]
tier = 2
name = "too-big"
min_fit = 70
signals = ["intent", "engagement"]
match = "any"
[[rules.tiers]]
tier = 3
name = "too-small"
min_fit = 70
""")
    return path


def backtest(directory, *extra: str) -> dict:
    result = CliRunner().invoke(
        cli,
        [
            "backtest",
            "--input-dir",
            str(directory),
            "--candidate",
            str(candidate_file(directory, CANDIDATE_ACV)),
            "--json",
            *extra,
        ],
        env={"ABM_CONFIG_FILE": None},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.integers(min_value=1, max_value=60).map(lambda k: k * 5_000), min_size=1, max_size=12
    )
)
def test_raising_the_acv_bar_moves_exactly_the_accounts_in_between(tmp_path_factory, acvs):
    directory = tmp_path_factory.mktemp("history")
    write_history(directory, acvs)
    result = backtest(directory)
    between = {f"acct-{n}" for n, acv in enumerate(acvs) if BASELINE_ACV <= acv < CANDIDATE_ACV}
    assert {m["account_id"] for m in result["moved"]} == between
    for m in result["moved"]:
        assert m["baseline"] == {"tier": 1, "rule": "just-right"}
        assert m["candidate"] == {"tier": 2, "rule": "too-big"}
    tier1 = result["kpis"]["tier 1"]["accounts"]
    assert tier1["delta"] == -len(between)
    assert result["kpis"]["tier 2"]["accounts"]["delta"] == len(between)
    assert result["kpis"]["overall"]["accounts"]["delta"] == 0
    assert result["alerts_gained"] == result["alerts_lost"] == []


def test_the_table_names_the_moves(tmp_path):
    write_history(tmp_path, [20_000, 60_000, 80_000, 150_000])
    result = CliRunner().invoke(
        cli,
        [
            "backtest",
            "--input-dir",
            str(tmp_path),
            "--candidate",
            str(candidate_file(tmp_path, CANDIDATE_ACV)),
        ],
        env={"ABM_CONFIG_FILE": None},
    )
    assert result.exit_code == 0, result.output
    assert "2 accounts change tier: 1 -> 2: 2" in result.output
    assert "acct-1" in result.output
    assert "acct-2" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"], "--from: 'yesterday' is not an ISO-8601 date or time"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "is not before --to"),
        (["--candidate", "/nonexistent.toml"], "cannot read rules file /nonexistent.toml"),
    ],
)
def test_bad_use_gets_a_precise_message(tmp_path, args, message):
    write_history(tmp_path, [60_000])
    base = ["backtest", "--input-dir", str(tmp_path)]
    if "--candidate" not in args:
        base += ["--candidate", str(candidate_file(tmp_path, CANDIDATE_ACV))]
    result = CliRunner().invoke(cli, base + args, env={"ABM_CONFIG_FILE": None})
    assert result.exit_code != 0
    assert message in result.output


def test_the_html_report_is_self_contained_and_holds_the_same_diff(tmp_path):
    write_history(tmp_path, [20_000, 60_000, 80_000, 150_000])
    report = tmp_path / "report.html"
    result = backtest(tmp_path, "--html", str(report))
    page = report.read_text()
    assert "<script src" not in page  # Chart.js is inlined: the file works offline
    assert "Chart.register" in page or "new Chart" in page
    start = page.index('<script id="data" type="application/json">') + len(
        '<script id="data" type="application/json">'
    )
    embedded = json.loads(page[start : page.index("</script>", start)].replace("<\\/", "</"))
    assert embedded["moved"] == result["moved"]
    assert {m["account_id"] for m in embedded["moved"]} == {"acct-1", "acct-2"}
