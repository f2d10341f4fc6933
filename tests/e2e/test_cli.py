"""The `abm` command as a user runs it against the embedded stack: hand-written files, bad
input, and `abm stack` itself (help and bad settings, which need no broker: unit/test_cli.py)."""

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from redis import Redis

from tests.harness import abm, collect, wait_until

EXAMPLES = Path(__file__).parents[2] / "examples" / "events"


def test_hand_written_example_files_are_accepted(worker):
    s, env = worker.settings, worker.env
    for kind in ("accounts", "contacts", "intent", "engagement", "deals", "spend"):
        result = abm("produce", kind, str(EXAMPLES / f"{kind}.jsonl"), env=env)
        assert result.returncode == 0, result.stderr
    changes = collect(
        s,
        s.topics.tier_changes,
        lambda rs: any(r["account_id"] == "contoso" and r["tier"] == 1 for r in rs),
    )
    contoso = [r for r in changes if r["account_id"] == "contoso"]
    assert contoso[-1]["inputs"]["fit"] == 100  # from the ICP rules: no fit_score given
    assert contoso[-1]["inputs"]["personas"] == {"decision_maker": 1, "influencer": 1}

    redis = Redis.from_url(s.redis_url, decode_responses=True)
    key = f"{s.redis_prefix}account:fabrikam"
    wait_until(lambda: redis.hget(key, "tier") == "3", 15, "fabrikam's snapshot")
    shown = abm("account", "fabrikam", env=env)
    assert orjson.loads(shown.stdout)["rule"] == "too-small"

    tailed = abm(
        "tail", "tier_changes", "--from-beginning", "--max", "2", "--timeout", "10", env=env
    )
    assert len(tailed.stdout.splitlines()) == 2
    assert all(orjson.loads(line)["version"] >= 1 for line in tailed.stdout.splitlines())
    dead = abm("tail", "dead_letter", "--from-beginning", "--timeout", "2", env=env)
    assert dead.stdout.strip() == ""

    # One deal won (75,000), one lost; 2,000 spent on contoso and 5,000 on the brand.
    def overall():
        shown = abm("kpis", "--json", env=env)
        return shown.returncode == 0 and orjson.loads(shown.stdout)["overall"]

    kpis = wait_until(lambda: (k := overall()) and k["spend"] == 7_000 and k, 15, "the KPIs")
    assert (kpis["won"], kpis["lost"], kpis["won_revenue"]) == (1, 1, 75_000)
    assert kpis["roi"] == (75_000 - 7_000) / 7_000
    table = abm("kpis", env=env).stdout
    assert re.search(r"^won_revenue\s+75,000\s", table, re.M), table
    # These files raise two surge alerts, one in tier 1 and one in tier 2; none held out.
    assert re.search(r"^raised\s+2\s+2\s+1\s+1\s+0\s+0$", table, re.M), table
    lifts = table[table.index("lift (") :].splitlines()[1:]
    assert len(lifts) == 6
    assert all(
        line.endswith("  no holdout: no alert here was held out ([rules.outcomes] holdout)")
        for line in lifts
    )
    # dana calls contoso 105 minutes after its intent alert (sent once the alerts are
    # raised: read first, the call would move the account's clock past the alert's time).
    sent = abm("produce", "sales_activities", str(EXAMPLES / "sales_activities.jsonl"), env=env)
    assert sent.returncode == 0, sent.stderr

    def dana():
        shown = abm("kpis", "--owners", "--json", env=env)
        return shown.returncode == 0 and orjson.loads(shown.stdout)["owners"].get(
            "dana@example.com"
        )

    answered = wait_until(lambda: (d := dana()) and d["responded"] and d, 15, "dana's answer")
    assert (answered["responded_within_sla"], answered["response_minutes_p50"]) == (1, 105)
    shown = orjson.loads(abm("kpis", "--owners", "--json", env=env).stdout)
    assert shown.keys() == {"as_of", "owners"}
    assert sum(o["delivered"] for o in shown["owners"].values()) == 2
    owners = abm("kpis", "--owners", env=env).stdout.splitlines()
    assert sorted(re.split(r"\s{2,}", row)[0] for row in owners[2:]) == sorted(shown["owners"])


def test_produce_refuses_a_bad_file_whole(worker, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"account_id": "a", "event_id": "1"}\nnot json\n')
    result = abm("produce", "engagement", str(bad), env=worker.env)
    assert result.returncode == 1
    assert f"{bad}:2: not JSON" in result.stderr
    assert "nothing was sent" in result.stderr


def test_tail_of_an_unknown_topic_says_so(worker):
    result = abm("tail", "no.such.topic", "--timeout", "1", env=worker.env)
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_stack_prints_settings_and_takes_its_servers_down(how):
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams", "stack"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        settings = dict(line.split("=", 1) for line in lines)
        assert settings["ABM_KAFKA_BROKER"].startswith("kafka://127.0.0.1:")
        assert settings["ABM_REDIS_URL"].startswith("redis://127.0.0.1:")
        ports = [int(v.rsplit(":", 1)[1].split("/")[0]) for v in settings.values()]
        assert not any(refused(p) for p in ports)
        topics = abm("tail", "abm.tier-changes.v1", "--timeout", "0.5", env=settings)
        assert topics.returncode == 0, topics.stderr  # created up front
        proc.send_signal(how)
        proc.wait(30)
        wait_until(lambda: all(refused(p) for p in ports), 15, "both servers to stop")
    finally:
        proc.kill()
