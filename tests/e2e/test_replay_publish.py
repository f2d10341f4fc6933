"""`abm replay --publish PREFIX` on the real broker and Redis: the results land under the
prefix, equal to the replay's own JSON, and nothing live is written (a refused prefix:
unit/test_replay_publish.py)."""

import json
import time

import orjson
from click.testing import CliRunner

from streams.cli import cli
from streams.clients.erasure import erasure_request, send
from streams.clients.redis import sync_redis
from tests.harness import pipeline_settings, read_all, send_rows
from tests.history import generate, write_jsonl


def by_account(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["account_id"], []).append(row)
    return out


def test_published_results_equal_the_replay_and_stay_out_of_live_keys(stack, tmp_path):
    settings, env = pipeline_settings(stack)
    write_jsonl(tmp_path, generate(5, 40, 45, int(time.time() * 1000)))
    prefix = f"bt-{settings.app_id.removeprefix('abm-').lower()}"
    redis = sync_redis(settings)
    live_before = sorted(redis.scan_iter(match=f"{settings.redis_prefix}*"))

    def run(*extra: str) -> dict:
        args = ["replay", "--input-dir", str(tmp_path), "--json", *extra]
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    replayed = run("--publish", prefix)
    published = replayed.pop("published")
    assert published["tier_changes"] == f"{prefix}.tier-changes.v1"
    assert published["transitions"] == len(replayed["transitions"]) > 0
    assert published["alerts"] == len(replayed["alerts"])

    # Keyed by account: each account's records are in replay order on its partition.
    assert by_account(read_all(settings, published["tier_changes"])) == by_account(
        replayed["transitions"]
    )
    assert by_account(read_all(settings, published["surge_alerts"])) == by_account(
        replayed["alerts"]
    )
    tiers = {k.decode(): orjson.loads(v) for k, v in redis.hgetall(f"{prefix}:tiers").items()}
    assert tiers == replayed["tiers"]
    overall = {k.decode(): v.decode() for k, v in redis.hgetall(f"{prefix}:kpi").items()}
    assert overall["as_of"] == replayed["kpis"]["as_of"]
    figure = replayed["kpis"]["overall"]["open_pipeline_value"]
    assert figure > 0
    assert float(overall["open_pipeline_value"]) == figure
    tier_keys = {k.decode() for k in redis.scan_iter(match=f"{prefix}:kpi:tier:*")}
    assert tier_keys == {f"{prefix}:kpi:tier:{t}" for t in replayed["kpis"]["tiers"]}

    # Nothing live was written: no live keys appeared, no live output topic got a record.
    assert sorted(redis.scan_iter(match=f"{settings.redis_prefix}*")) == live_before
    assert read_all(settings, settings.topics.tier_changes, idle_s=0.5) == []
    assert read_all(settings, settings.topics.surge_alerts, idle_s=0.5) == []

    # Without --publish nothing is written (the topic still holds the one run's records).
    assert "published" not in run()
    assert len(read_all(settings, published["tier_changes"])) == published["transitions"]


def test_a_replay_of_the_topics_publishes_no_one_erased(stack):
    """The input topics still hold what was sent before `abm forget`; a replay of them
    reads the erasure topic and publishes neither the account erased whole nor the
    person erased from another."""
    settings, env = pipeline_settings(stack)
    send_rows(settings, generate(9, 30, 45, int(time.time() * 1000)))

    def run(*extra: str) -> dict:
        args = ["replay", "--json", *extra]
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    before = run()
    named = [a for a in before["alerts"] if a["contacts"]]
    assert named
    person_of, person = named[0]["account_id"], named[0]["contacts"][0]
    whole = next(a for a in before["tiers"] if a != person_of)
    key = env["ABM_ERASURE_KEY"].encode()
    time.sleep(0.01)  # the requests come after every record sent
    for request in (erasure_request(whole, None, key), erasure_request(person_of, person, key)):
        send(settings, request)
    prefix = f"er-{settings.app_id.removeprefix('abm-').lower()}"
    after = run("--publish", prefix)
    assert after["rejected"]["erased"] > 0
    published = [
        *read_all(settings, after["published"]["tier_changes"]),
        *read_all(settings, after["published"]["surge_alerts"]),
    ]
    assert published
    assert whole not in json.dumps(after)
    assert whole not in json.dumps(published)
    assert person not in json.dumps(published)
