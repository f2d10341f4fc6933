"""Hostile input: every bad record is dead-lettered with its reason, nothing valid is lost.

A corpus of hand-written attacks (broken JSON, wrong types, unknown enums, huge strings
and payloads, NaN and infinity, negative amounts, years 1 and 9999, invalid UTF-8, null
and mismatched keys, tombstones, deep nesting) and a few hundred random mutations of a
valid event go to a live worker, each followed by a valid page view of one account. The
pure decode and apply decide which records must be rejected and why; the dead-letter
topic must hold exactly those, byte for byte, and the account exactly all its views.
"""

import asyncio
import base64
import hashlib
import random
import time
from collections import Counter

import orjson
from aiokafka import AIOKafkaProducer
from redis import Redis

from schemas.inputs import DealEvent, EngagementEvent
from streams.clients.kafka import client_options
from streams.logic.inputs.apply import apply_event
from streams.logic.inputs.decode import DEAD_LETTER_VALUE_BYTES, Coords, Rejected, decode
from streams.logic.rules import Rules
from tests.harness import (
    launch,
    metric_sum,
    pipeline_settings,
    read_all,
    read_metrics,
    wait_until,
)

NOW = int(time.time() * 1000)
AT = NOW - 3_600_000


def valid(account: str, n: int) -> dict:
    return {
        "event_id": f"ok-{n}",
        "account_id": account,
        "contact_id": "c1",
        "channel": "web",
        "action": "page_view",
        "occurred_at": AT,
    }


def event(account: str, **changes: object) -> bytes:
    return orjson.dumps({**valid(account, 0), "event_id": f"bad-{account}", **changes})


def corpus() -> list[tuple[str, bytes | None, bytes | None]]:
    """(kind, key, value) of hostile records, each for an account of its own."""
    hand: list[tuple[str, str | None, bytes | None]] = []

    def add(kind: str, value: bytes | None, key: str | None = "own") -> None:
        hand.append((kind, key, value))

    n = iter(range(10_000))
    for raw in [b"not json", b"{", b"[]", b"null", b"", b"[" * 100_000, b'{"a":' * 5000]:
        add("engagement", raw)
    add("engagement", None)  # a tombstone
    # Records whose dead letter, were the value copied whole, would pass the broker's 1 MB:
    add("engagement", b"\x01" * 180_000)  # JSON writes each byte as six: 1.08 MB
    add("engagement", random.Random(7).randbytes(760_000))  # not UTF-8, base64: 1.01 MB
    add("engagement", event("hostile-huge", padding="x" * 900_000))  # JSON, 0.9 MB
    for changes in [
        {"event_id": 1},
        {"action": "teleport"},
        {"channel": "fax"},
        {"contact_id": "x" * 10_000},
        {"padding": "x" * 70_000},
        {"duration_s": 1e308 * 10},
        {"duration_s": -1},
        {"occurred_at": "0001-01-01T00:00:00Z"},
        {"occurred_at": "9999-12-31T23:59:59Z"},
        {"occurred_at": "2099-01-01T00:00:00Z"},
        {"occurred_at": "yesterday"},
        {"account_id": None},
        {"event_id": "ünïcödé ☃"},
        {"extra": "field"},
    ]:
        add("engagement", event(f"hostile-{next(n)}", **changes), key="own")
    add(
        "engagement",
        event("hostile-nan").replace(b'"occurred_at"', b'"duration_s":NaN,"occurred_at"'),
    )
    add("engagement", b'{"event_id": "\xff\xfe", "account_id": "x"}')
    add("engagement", event("hostile-nullkey"), key=None)
    add("engagement", event("hostile-mismatch"), key="someone-else")
    deal = {"opportunity_id": "o", "stage": "proposal", "amount": 10.0}
    add("deals", orjson.dumps({**orjson.loads(event("hostile-neg")), **deal, "amount": -5}))
    add("deals", orjson.dumps({**orjson.loads(event("hostile-stage")), **deal, "stage": "lunch"}))
    rng = random.Random(1234)
    for i in range(300):
        raw = bytearray(event(f"fuzz-{i}"))
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(raw))
            match rng.randrange(4):
                case 0:
                    raw[at] = rng.randrange(256)
                case 1:
                    del raw[at : at + rng.randrange(1, 20)]
                case 2:
                    raw[at:at] = rng.randbytes(rng.randrange(1, 8))
                case _:
                    raw[at:at] = raw[at : at + rng.randrange(1, 30)]
        add("engagement", bytes(raw), key=f"fuzz-{i}")
    out = []
    for kind, key, value in hand:
        if key == "own":  # the account id the payload names, when it names one
            try:
                key = orjson.loads(value or b"{}").get("account_id") or "anon"
            except (orjson.JSONDecodeError, AttributeError):
                key = "anon"
        out.append((kind, None if key is None else key.encode(), value))
    return out


def expected_rejection(kind: str, key: bytes | None, value: bytes | None) -> str | None:
    """What the pure logic says of one record on a fresh account: a reason, or None."""
    model = DealEvent if kind == "deals" else EngagementEvent
    try:
        event = decode(model, key, value)
        apply_event(None, event, Coords(kind, 0, 0, NOW), Rules(), NOW)
    except Rejected as why:
        return str(why.reason)
    return None


async def send_all(settings, records) -> None:
    producer = AIOKafkaProducer(
        **client_options(settings), linger_ms=20, max_request_size=4_000_000
    )
    await producer.start()
    try:
        for kind, key, value in records:
            await producer.send(getattr(settings.topics, kind), value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def raw_of(letter: dict) -> bytes:
    value = letter["value"]
    return base64.b64decode(value) if letter["encoding"] == "base64" else value.encode()


def test_every_hostile_record_is_dead_lettered_and_every_valid_one_counts(stack):
    settings, env = pipeline_settings(stack, clock="event")
    worker = launch(settings, env, "hostile-input")
    try:
        hostile = corpus()
        records = []
        for n, record in enumerate(hostile):
            records += [record, ("engagement", b"steady", orjson.dumps(valid("steady", n)))]
        asyncio.run(send_all(settings, records))

        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        key = f"{settings.redis_prefix}account:steady"
        wait_until(
            lambda: redis.hget(key, "engagement_points") == str(len(hostile)),
            60,
            f"all {len(hostile)} valid page views counted",
        )
        expected = [expected_rejection(*r) for r in hostile]
        rejected = [(r, why) for r, why in zip(hostile, expected, strict=True) if why]
        letters = wait_until(
            lambda: (
                (ls := read_all(settings, settings.topics.dead_letter))
                and len(ls) >= len(rejected)
                and ls
            ),
            60,
            "the dead letters",
        )
        assert len(letters) == len(rejected)
        by_hash = {}
        for letter in letters:
            kept = raw_of(letter)
            if letter["truncated"]:  # a prefix, the length and the hash of the whole
                assert len(kept) <= DEAD_LETTER_VALUE_BYTES < letter["value_bytes"]
            else:  # the value itself, byte for byte
                assert hashlib.sha256(kept).hexdigest() == letter["value_sha256"]
            by_hash.setdefault(letter["value_sha256"], []).append((letter["reason"], kept))
        for (_kind, _key, value), why in rejected:
            raw = value or b""
            found = by_hash.get(hashlib.sha256(raw).hexdigest(), [])
            assert any(reason == why and raw.startswith(kept) for reason, kept in found), raw[:80]
        assert sum(letter["truncated"] for letter in letters) == 3
        assert "processing_error" not in {letter["reason"] for letter in letters}
        metrics = read_metrics(settings)
        assert metric_sum(metrics, "abm_events_total", outcome="dead_letter") == len(rejected)
        assert metric_sum(metrics, "abm_events_total", outcome="applied") + metric_sum(
            metrics, "abm_events_total", outcome="duplicate"
        ) == len(records) - len(rejected)
        for reason, count in Counter(str(why) for _, why in rejected).items():
            assert metric_sum(metrics, "abm_dead_letters_total", reason=reason) == count
        assert worker.child.proc.poll() is None  # still up
        assert len(rejected) > 250  # most mutations break the event
    finally:
        assert worker.stop() == 0


def applied(settings) -> float:
    return metric_sum(read_metrics(settings), "abm_events_total", outcome="applied")


def crowded(n: int, day: int) -> dict:
    """A page view of the crowded account by a new contact with an id near the longest."""
    return {
        **valid("crowded", n),
        "event_id": f"{'e' * 100}-{n}",
        "contact_id": f"{'c' * 100}-{n}",
        "campaign_id": f"{'k' * 100}-{n % 30}",
        "occurred_at": AT - (34 - day) * 86_400_000,
    }


def test_an_account_whose_record_outgrows_its_bound_sheds_and_the_worker_goes_on(stack):
    """35 days of 300 contacts each (ids near the longest) make the account's record
    several megabytes; the producer would refuse it and stop the worker. It sheds (the
    metric says what), is stored, recovers after a restart and takes events again."""
    settings, env = pipeline_settings(stack, clock="event")
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    key = f"{settings.redis_prefix}account:crowded"
    views = [crowded(n, n // 300) for n in range(35 * 300)]
    worker = launch(settings, env, "crowded-account")
    try:
        records = [("engagement", b"crowded", orjson.dumps(view)) for view in views]
        asyncio.run(send_all(settings, records))
        wait_until(
            lambda: applied(settings) == len(views), 120, "every view of the crowded account"
        )
        metrics = read_metrics(settings)
        assert metric_sum(metrics, "abm_state_shed_total") >= 1
        assert metric_sum(metrics, "abm_state_shed_total", part="unstored") == 0
        points = float(redis.hget(key, "engagement_points") or 0)
        assert worker.child.proc.poll() is None
    finally:
        assert worker.stop() == 0
    worker = launch(settings, env, "crowded-account-restarted")
    try:
        late = {**crowded(len(views), 34), "action": "meeting"}
        asyncio.run(send_all(settings, [("engagement", b"crowded", orjson.dumps(late))]))
        wait_until(
            lambda: float(redis.hget(key, "engagement_points") or 0) > points,
            120,
            "the next view counted after recovery",
        )
        assert applied(settings) == 1
        assert worker.child.proc.poll() is None
    finally:
        assert worker.stop() == 0
