"""End to end on the embedded broker and Redis, the worker a real subprocess.

Event time is driven by the events themselves (the worker runs with ABM_CLOCK=event):
the journey spans three weeks of event time in a few seconds of wall time.
"""

import time

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from redis import Redis

from tests.harness import collect, launch, pipeline_settings, send, wait_until

DAY = 86_400_000
T = (int(time.time() * 1000) // DAY - 60) * DAY + 9 * 3_600_000  # 60 days ago, 09:00 UTC


def same_partition(account: str, partitions: int, prefix: str) -> str:
    """Another account id whose events land on the same partition as `account`'s."""
    partitioner = DefaultPartitioner()
    everything = list(range(partitions))
    target = partitioner(account.encode(), everything, everything)
    for n in range(10_000):
        candidate = f"{prefix}-{n}"
        if partitioner(candidate.encode(), everything, everything) == target:
            return candidate
    raise AssertionError("no account on the same partition")


def changes_of(records, account):
    """An account's changes as a consumer keeps them: by version, repeats dropped.

    Outputs are at least once: after a restart or rebalance the outbox of an account
    whose last change was not yet known delivered is sent again, identical.
    """
    kept: dict[int, dict] = {}
    for r in records:
        if r["account_id"] == account:
            assert kept.setdefault(r["version"], r) == r, "a repeat that differs"
    return [
        (r["previous_tier"], r["tier"], r["rule"], r["version"])
        for r in sorted(kept.values(), key=lambda r: r["version"])
    ]


def test_account_journey_up_and_back_down(worker):
    s = worker.settings
    redis = Redis.from_url(s.redis_url, decode_responses=True)
    acct = "acme-journey"

    def until(n):
        return lambda records: len(changes_of(records, acct)) >= n

    send(
        s,
        s.topics.accounts,
        {
            "account_id": acct,
            "name": "Acme",
            "fit_score": 85,
            "expected_acv": 80_000,
            "owner": "sam@example.com",
        },
    )
    collect(s, s.topics.tier_changes, until(1))
    send(
        s,
        s.topics.intent,
        {
            "event_id": "i-1",
            "account_id": acct,
            "provider": "bombora",
            "topic": "crm software",
            "score": 72,
            "occurred_at": T,
        },
    )
    collect(s, s.topics.tier_changes, until(2))
    send(
        s,
        s.topics.engagement,
        {
            "event_id": "e-1",
            "account_id": acct,
            "contact_id": "ann",
            "channel": "sales",
            "action": "meeting",
            "occurred_at": T + 3_600_000,
        },
        {
            "event_id": "e-2",
            "account_id": acct,
            "contact_id": "bob",
            "channel": "email",
            "action": "email_click",
            "occurred_at": T + 7_200_000,
        },
    )
    collect(s, s.topics.tier_changes, until(3))

    # Twenty days of event time pass on acme's partition (another account's traffic);
    # acme itself gets no event: only the staleness timer can move it down.
    other = same_partition(acct, s.partitions, "clock")
    send(
        s,
        s.topics.engagement,
        {
            "event_id": "e-3",
            "account_id": other,
            "channel": "web",
            "action": "page_view",
            "occurred_at": T + 20 * DAY,
        },
    )
    records = collect(s, s.topics.tier_changes, until(4))

    assert changes_of(records, acct) == [
        (0, 3, "too-small", 1),
        (3, 2, "too-big", 2),
        (2, 1, "just-right", 3),
        (1, 3, "too-small", 4),
    ]
    promoted = next(r for r in records if r["account_id"] == acct and r["tier"] == 1)
    assert promoted["inputs"] == {
        "fit": 85.0,
        "acv": 80_000.0,
        "intent_max": 72.0,
        "intent_topics": ["crm software"],
        "engagement_points": 11.0,
        "engaged_contacts": 2,
        "recent_intent": True,
        "recent_engagement": True,
        "personas": {"unknown": 2},  # no roster: the two contacts are no persona yet
    }
    assert promoted["changed_at"] == orjson.loads(
        orjson.dumps(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((T + 7_200_000) / 1000)))
    )

    key = f"{s.redis_prefix}account:{acct}"
    snapshot = wait_until(
        lambda: (h := redis.hgetall(key)).get("version") == "4" and h,
        15,
        "the Redis snapshot of version 4",
    )
    assert snapshot["tier"] == "3"
    assert snapshot["rule"] == "too-small"
    assert snapshot["owner"] == "sam@example.com"
    assert snapshot["engagement_points"] == "0"
    assert snapshot["recent_intent"] == "0"


def test_bad_payload_is_dead_lettered_and_the_next_event_still_counts(worker):
    s = worker.settings
    redis = Redis.from_url(s.redis_url, decode_responses=True)
    acct = "acme-dlq"
    send(s, s.topics.accounts, {"account_id": acct, "name": "Dlq", "fit_score": 90})
    send(s, s.topics.engagement, b'{"event_id": "x", "account_id": ', key=acct)
    send(
        s,
        s.topics.engagement,
        {
            "event_id": "bad-enum",
            "account_id": acct,
            "channel": "fax",
            "action": "page_view",
            "occurred_at": T,
        },
    )
    send(
        s,
        s.topics.engagement,
        {
            "event_id": "mismatch",
            "account_id": "someone-else",
            "channel": "web",
            "action": "page_view",
            "occurred_at": T,
        },
        key=acct,
    )
    send(
        s,
        s.topics.engagement,
        {
            "event_id": "good",
            "account_id": acct,
            "contact_id": "c",
            "channel": "sales",
            "action": "meeting",
            "occurred_at": T,
        },
    )

    letters = collect(s, s.topics.dead_letter, lambda rs: len(rs) >= 3)
    assert [(d["reason"], d["source_topic"], d["key"]) for d in letters] == [
        ("invalid_json", s.topics.engagement, acct),
        ("invalid_payload", s.topics.engagement, acct),
        ("key_mismatch", s.topics.engagement, acct),
    ]
    assert letters[0]["value"] == '{"event_id": "x", "account_id": '
    assert [d["offset"] for d in letters] == sorted(d["offset"] for d in letters)
    assert "channel" in letters[1]["error"]

    key = f"{s.redis_prefix}account:{acct}"
    wait_until(
        lambda: redis.hget(key, "engagement_points") == "8", 15, "the good event after the bad ones"
    )


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_restarted_worker_recovers_state_from_the_changelog(stack, store, tmp_path):
    settings, env = pipeline_settings(stack, clock="event", store=store)
    acct = "acme-restart"
    # RocksDB keeps state on disk: the second worker gets an empty data directory, so it
    # too must recover from the changelog.
    first = launch(settings, {**env, "ABM_DATA_DIR": str(tmp_path / "1")}, "restart-1")
    try:
        send(
            settings,
            settings.topics.accounts,
            {"account_id": acct, "name": "R", "fit_score": 80, "expected_acv": 90_000},
        )
        collect(settings, settings.topics.tier_changes, lambda rs: len(rs) >= 1)
        send(
            settings,
            settings.topics.intent,
            {
                "event_id": "r-1",
                "account_id": acct,
                "provider": "g2",
                "topic": "crm",
                "score": 80,
                "occurred_at": T,
            },
        )
        collect(settings, settings.topics.tier_changes, lambda rs: len(rs) >= 2)
    finally:
        assert first.stop() == 0
    second = launch(settings, {**env, "ABM_DATA_DIR": str(tmp_path / "2")}, "restart-2")
    try:
        # The intent survives the restart only if the table was recovered: together with
        # this meeting it makes tier 1, and the version continues from 2.
        send(
            settings,
            settings.topics.engagement,
            {
                "event_id": "r-2",
                "account_id": acct,
                "contact_id": "a",
                "channel": "sales",
                "action": "meeting",
                "occurred_at": T + 60_000,
            },
            {
                "event_id": "r-3",
                "account_id": acct,
                "contact_id": "b",
                "channel": "web",
                "action": "form_submit",
                "occurred_at": T + 120_000,
            },
            {
                "event_id": "r-2",
                "account_id": acct,
                "contact_id": "c",
                "channel": "web",
                "action": "meeting",
                "occurred_at": T + 180_000,
            },
        )  # a re-sent event id
        records = collect(
            settings, settings.topics.tier_changes, lambda rs: len(changes_of(rs, acct)) >= 3
        )
        assert changes_of(records, acct) == [
            (0, 3, "too-small", 1),
            (3, 2, "too-big", 2),
            (2, 1, "just-right", 3),
        ]
        assert records[-1]["inputs"]["engagement_points"] == 13
    finally:
        assert second.stop() == 0
