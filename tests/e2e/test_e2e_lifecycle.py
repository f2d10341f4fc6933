"""An account's end through the real worker: removal by a profile's tombstone, and
erasure of a person or a whole account with `abm forget`.

Removal: one last tier change and stage change (rule `removed`), the account's hash and
rank entries gone, the KPIs those of a history that never had it, and an event after
starts the account afresh. Erasure of a person: afterwards no record on any topic written
since the request (the request included), no Redis key or value and no `abm account`
output holds their id, while the account's other figures stay. Erasure of an account:
its view and KPIs go, and nothing about it is published.
"""

import asyncio
import re
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from click.testing import CliRunner
from redis import Redis

from streams.cli import cli
from streams.clients.group_lag import highwaters
from streams.clients.kafka import client_options
from streams.clients.produce_tail import Keyed, produce
from tests.harness import (
    collect,
    launch,
    pipeline_settings,
    read_all,
    read_kpis,
    redis_holds,
    send,
    send_rows,
    view_differences,
    wait_until,
)

DAY = 86_400_000
T = (int(time.time() * 1000) // DAY - 20) * DAY + 9 * 3_600_000
SECRET = "p-secret-7731"
"""The person erased: an id that occurs nowhere else, so a search for it is exact."""


def rows(secret: str = SECRET) -> list[tuple[str, dict]]:
    """Four accounts; acct-person's committee has `secret`, a VP (so alerts name them)."""
    out: list[tuple[str, dict]] = []
    for account in ("acct-keep", "acct-gone", "acct-person", "acct-whole"):
        out.append(("accounts", {"account_id": account, "name": account, "fit_score": 85}))
        for n in range(6):
            contact = secret if account == "acct-person" and n % 2 else f"{account}-c{n % 3}"
            out.append(
                (
                    "engagement",
                    {
                        "event_id": f"{account}-{n}",
                        "account_id": account,
                        "contact_id": contact,
                        "channel": "email",
                        "action": "meeting" if n > 3 else "email_click",
                        "occurred_at": T + n * 3 * DAY,
                    },
                )
            )
    out.append(
        (
            "contacts",
            {
                "account_id": "acct-person",
                "contacts": [
                    {"contact_id": secret, "title": "VP Marketing"},
                    {"contact_id": "acct-person-c0", "title": "Senior Data Analyst"},
                ],
                "updated_at": T,
            },
        )
    )
    return out


ROWS = rows()


def page_view(account: str, contact: str, event_id: str) -> dict:
    """One more event, on the history's last day."""
    return {
        "event_id": event_id,
        "account_id": account,
        "contact_id": contact,
        "channel": "web",
        "action": "page_view",
        "occurred_at": T + 19 * DAY,
    }


@pytest.fixture(scope="module")
def worker(stack, request):
    settings, env = pipeline_settings(stack, clock="event", kpi_interval_s=0.5)
    running = launch(settings, env, request.module.__name__)
    send_rows(settings, ROWS)
    alerted = collect(
        settings,
        settings.topics.surge_alerts,
        lambda seen: any(SECRET in str(a["committee"]) for a in seen),
        timeout=60,
    )
    assert alerted
    wait_until(lambda: not view_differences(settings, ROWS), 60, "the view caught up")
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]


def _redis(settings) -> Redis:
    return Redis.from_url(settings.redis_url, decode_responses=True)


def test_a_tombstone_removes_the_account(worker):
    s = worker.settings
    asyncio.run(produce(s, s.topics.accounts, [Keyed(b"acct-gone", None)]))  # type: ignore[arg-type]

    def last(topic):
        mine = [c for c in read_all(s, topic, 0.3) if c["account_id"] == "acct-gone"]
        return mine[-1] if mine else None

    final = wait_until(
        lambda: (c := last(s.topics.tier_changes)) and c["rule"] == "removed" and c, 30, "removed"
    )
    assert final["tier"] == 0
    moved = last(s.topics.stage_changes)
    assert (moved["stage"], moved["rule"]) == ("unaware", "removed")
    kept = [r for r in ROWS if r[1].get("account_id") != "acct-gone"]
    wait_until(lambda: not view_differences(s, kept), 30, "the KPIs without acct-gone")
    redis = _redis(s)
    assert not redis.exists(f"{s.redis_prefix}account:acct-gone")
    for rank in ("rank:engagement", "rank:surge"):
        assert redis.zscore(f"{s.redis_prefix}{rank}", "acct-gone") is None
    assert read_kpis(s)["overall"]["accounts"] == 3

    # an event after the removal starts the account afresh (versions from 1)
    send(s, s.topics.engagement, page_view("acct-gone", "acct-gone-c0", "after-removal"))
    fresh = wait_until(
        lambda: (c := last(s.topics.stage_changes)) and c["rule"] != "removed" and c, 30, "afresh"
    )
    assert (fresh["version"], fresh["previous_stage"]) == (1, "unaware")


def _ends(settings) -> dict[TopicPartition, int]:
    """The end of every partition of every topic, as a fetch reports it (the embedded
    broker's list-offsets answer is wrong after batched produce)."""

    async def run() -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
        await consumer.start()
        try:
            topics = await consumer.topics()
            tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
        finally:
            await consumer.stop()
        return await highwaters(settings, tps, {}, 10.0)

    return asyncio.run(run())


def _written_since(settings, since: dict[TopicPartition, int]) -> list[tuple[str, bytes]]:
    """Every record written to any topic after the offsets in `since` (keys and values)."""

    async def run() -> list[tuple[str, bytes]]:
        consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
        await consumer.start()
        out: list[tuple[str, bytes]] = []
        try:
            topics = await consumer.topics()
            tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, since.get(tp, 0))
            while batch := await consumer.getmany(timeout_ms=1500):
                for tp, records in batch.items():
                    out += [(tp.topic, (r.key or b"") + b"|" + (r.value or b"")) for r in records]
        finally:
            await consumer.stop()
        return out

    return asyncio.run(run())


def test_forgetting_a_person_leaves_no_trace_of_them(worker):
    s = worker.settings
    assert redis_holds(s, SECRET)  # the alert stream names them before
    before = _ends(s)
    result = CliRunner().invoke(
        cli, ["forget", "--account", "acct-person", "--contact", SECRET], env=worker.env
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"erased contact .*: [1-9]\d* in its state, 1 in its roster", result.output)
    # more traffic for the account after the erasure: its outputs must not name them
    send(s, s.topics.engagement, page_view("acct-person", "acct-person-c1", "after-erasure"))
    wait_until(
        lambda: any(
            "after-erasure" in str(v) for t, v in _written_since(s, before) if "changelog" in t
        ),
        30,
        "the next event stored",
    )
    time.sleep(2 * s.kpi_interval_s)  # the view's next flush
    leaks = [t for t, v in _written_since(s, before) if SECRET.encode() in v]
    assert leaks == [], leaks
    assert redis_holds(s, SECRET) == []
    shown = CliRunner().invoke(cli, ["account", "acct-person"], env=worker.env)
    assert shown.exit_code == 0
    assert SECRET not in shown.output
    assert '"tier"' in shown.output  # the account itself stays


def test_forgetting_an_account_removes_it_and_publishes_nothing(worker):
    s = worker.settings
    before = _ends(s)
    result = CliRunner().invoke(cli, ["forget", "--account", "acct-whole"], env=worker.env)
    assert result.exit_code == 0, result.output
    assert redis_holds(s, "acct-whole") == []
    outputs = (s.topics.tier_changes, s.topics.stage_changes, s.topics.surge_alerts)
    written = _written_since(s, before)
    assert [t for t, v in written if t in outputs and b"acct-whole" in v] == []
    shown = CliRunner().invoke(cli, ["account", "acct-whole"], env=worker.env)
    assert shown.exit_code == 1
    # acct-keep, acct-person, and acct-gone made afresh by the event after its removal
    assert read_kpis(s)["overall"]["accounts"] == 3
