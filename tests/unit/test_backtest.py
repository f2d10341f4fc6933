"""`abm backtest` on histories whose difference is known by construction (JSON-lines input)."""

import json
import time

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.cli import cli
from streams.replay.report import embedded_json

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
    embedded = json.loads(page[start : page.index("</script>", start)])
    assert embedded["moved"] == result["moved"]
    assert {m["account_id"] for m in embedded["moved"]} == {"acct-1", "acct-2"}


@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=1, max_value=8))
def test_a_topic_catalogue_moves_alerts_into_their_cluster(tmp_path_factory, accounts):
    """Every account's one intent surge (on "crm") is, under a catalogue listing "crm" in
    a cluster, that cluster's alert: lost from plain intent, gained under the cluster."""
    directory = tmp_path_factory.mktemp("history")
    write_history(directory, [60_000] * accounts)
    candidate = directory / "catalogue.toml"
    candidate.write_text('[rules.intent.clusters]\nsales = ["CRM"]\n')
    result = backtest(directory, "--candidate", str(candidate))
    channels = result["alerts_by_channel"]
    assert channels["intent"] == {
        "baseline": accounts,
        "candidate": 0,
        "gained": 0,
        "lost": accounts,
    }
    assert channels["intent:sales"] == {
        "baseline": 0,
        "candidate": accounts,
        "gained": accounts,
        "lost": 0,
    }
    assert {a["cluster"] for a in result["alerts_gained"]} == {"sales"}
    assert sum(c["gained"] for c in channels.values()) == len(result["alerts_gained"])


def test_routes_in_a_candidate_count_the_alerts_each_would_have_posted(tmp_path):
    write_history(tmp_path, [20_000, 60_000, 150_000])
    candidate = tmp_path / "routes.toml"
    candidate.write_text(
        "".join(
            f'[[routes]]\nname = "{name}"\n{match}url = "https://hooks.example/{name}"\n'
            f'secret_env = "ABM_ROUTE_UNSET_IN_A_BACKTEST"\n\n'
            for name, match in (("everything", ""), ("intent-only", 'kinds = ["intent"]\n'))
        )
    )
    result = backtest(tmp_path, "--candidate", str(candidate))
    total = result["alerts"]["candidate"]
    assert total > 0
    replayed = CliRunner().invoke(
        cli,
        ["replay", "--input-dir", str(tmp_path), "--rules", str(candidate), "--json"],
        env={"ABM_CONFIG_FILE": None},
        catch_exceptions=False,
    )
    moves = json.loads(replayed.output)["transitions"]
    ups = [
        c for c in moves if c["tier"] and (not c["previous_tier"] or c["tier"] < c["previous_tier"])
    ]
    assert ups  # accounts entering a tier: tier-ups the routes hear of too
    routes = result["posts_by_route"]
    posts = total + len(ups)
    assert routes["everything"] == {"baseline": 0, "candidate": posts, "gained": posts, "lost": 0}
    intent = result["alerts_by_channel"]["intent"]["candidate"]
    assert routes["intent-only"]["candidate"] == intent < total


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_data_embedded_in_the_report_cannot_end_its_script_element(value):
    text = embedded_json(value)
    assert not {"<", ">", "&"} & set(text)
    assert json.loads(text) == value


@settings(max_examples=8, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=8))
def test_a_candidate_is_judged_on_what_its_alerts_led_to(tmp_path_factory, opened):
    """Accounts whose opportunity opened after their alerts: a candidate that never alerts
    on intent keeps each account's engagement alert, and the same share led somewhere."""
    directory = tmp_path_factory.mktemp("history")
    write_history(directory, [60_000] * len(opened))
    deals = [
        {
            "event_id": f"d{n}",
            "account_id": f"acct-{n}",
            "opportunity_id": f"o{n}",
            "stage": "prospecting",
            "amount": 10_000,
            "occurred_at": NOW - 5 * HOUR,
        }
        for n, yes in enumerate(opened)
        if yes
    ]
    (directory / "deals.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in deals))
    candidate = directory / "quiet.toml"
    candidate.write_text("[rules.surge]\nintent_enter_score = 100\nintent_exit_score = 100\n")
    result = backtest(directory, "--candidate", str(candidate))
    overall = result["kpis"]["overall"]
    assert overall["alerts_raised"] == {
        "baseline": result["alerts"]["baseline"],
        "candidate": result["alerts"]["candidate"],
        "delta": -len(opened),
    }
    share = sum(opened) / len(opened)
    led = overall["alerts_to_opportunities"]
    assert (led["baseline"], led["candidate"], led["delta"]) == (share, share, 0)


def test_a_held_out_alert_is_posted_to_no_route(tmp_path):
    write_history(tmp_path, [60_000 + n * 1_000 for n in range(16)])
    candidate = tmp_path / "holdout.toml"
    candidate.write_text(
        "[rules.outcomes]\nholdout = 0.5\n\n"
        '[[routes]]\nname = "everything"\nurl = "https://hooks.example/all"\n'
        'secret_env = "ABM_ROUTE_UNSET_IN_A_BACKTEST"\n'
    )
    result = backtest(tmp_path, "--candidate", str(candidate))
    replayed = CliRunner().invoke(
        cli,
        ["replay", "--input-dir", str(tmp_path), "--rules", str(candidate), "--json"],
        env={"ABM_CONFIG_FILE": None},
        catch_exceptions=False,
    )
    decided = json.loads(replayed.output)
    held = [a for a in decided["alerts"] if a["holdout"]]
    assert 0 < len(held) < len(decided["alerts"])
    ups = [
        c
        for c in decided["transitions"]
        if c["tier"] and (not c["previous_tier"] or c["tier"] < c["previous_tier"])
    ]
    posts = len(decided["alerts"]) - len(held) + len(ups)
    assert result["posts_by_route"]["everything"]["candidate"] == posts
