"""The write-behind cache's one promise: an event is acknowledged only after the broker
has acknowledged the changelog record of the state it produced, and a failed flush keeps
both for the next. The table here records what it is asked to do and lets the test
decide when the broker answers; the end-to-end tests run the real thing."""

import asyncio
from dataclasses import dataclass, field

import orjson
import pytest

from streams.crash_points import CrashPoints
from streams.worker.write_behind import WriteBehind


@dataclass
class State:
    account_id: str
    n: int = 0

    def to_json(self) -> bytes:
        return f"{self.account_id}={self.n}".encode()


@dataclass
class Table:
    name: str
    data: dict = field(default_factory=dict)
    sent: list = field(default_factory=list)
    """(partition, key, record, broker's answer) per changelog record."""

    def get(self, key: str) -> State | None:
        return self.data.get(key)

    def send_changelog(self, partition, key, value, **serializers):
        assert serializers == {"key_serializer": "raw", "value_serializer": "raw"}
        answer = asyncio.get_running_loop().create_future()
        self.sent.append((partition, orjson.loads(key), value, answer))
        return answer


@dataclass
class Event:
    offset: int
    acked: bool = False

    def ack(self) -> bool:
        self.acked = True
        return True


async def test_events_are_acked_only_after_the_broker_has_their_state():
    accounts = Table("accounts")
    cache = WriteBehind([accounts], max_held=100, crash=CrashPoints(None))
    a, events = State("a"), [Event(n) for n in range(3)]
    for event in events:
        a.n += 1
        cache.put(accounts, "a", a, 2)
        await cache.hold(event)
    assert cache.get(accounts, "a") is a
    assert accounts.get("a") is a  # in the store at once; only the changelog waits
    assert accounts.sent == []
    flushing = asyncio.create_task(cache.flush())
    await asyncio.sleep(0)
    assert [(p, k, v) for p, k, v, _ in accounts.sent] == [(2, "a", b"a=3")]  # one per account
    a.n += 1  # an event after the flush began: not in its record, not acked by it
    cache.put(accounts, "a", a, 2)
    await cache.hold(late := Event(3))
    await asyncio.sleep(0.01)
    assert not any(e.acked for e in events)
    accounts.sent[0][3].set_result(None)
    assert await flushing == 3
    assert all(e.acked for e in events)
    assert not late.acked
    assert accounts.get("a") is a
    assert cache.get(accounts, "a") is a


async def test_a_failed_flush_keeps_states_and_events_for_the_next():
    accounts = Table("accounts")
    cache = WriteBehind([accounts], max_held=100, crash=CrashPoints(None))
    cache.put(accounts, "a", State("a", 1), 0)
    await cache.hold(first := Event(0))
    flushing = asyncio.create_task(cache.flush())
    await asyncio.sleep(0)
    cache.put(accounts, "b", State("b", 1), 1)
    await cache.hold(second := Event(1))
    accounts.sent[0][3].set_exception(OSError("broker gone"))
    with pytest.raises(OSError, match="broker gone"):
        await flushing
    assert not first.acked
    flushing = asyncio.create_task(cache.flush())
    await asyncio.sleep(0)
    assert sorted(k for _, k, _, _ in accounts.sent[1:]) == ["a", "b"]
    for *_, answer in accounts.sent[1:]:
        answer.set_result(None)
    assert await flushing == 2
    assert first.acked
    assert second.acked


async def test_too_many_waiting_events_flush_at_once():
    accounts = Table("accounts")
    cache = WriteBehind([accounts], max_held=3, crash=CrashPoints(None))
    for n in range(2):
        cache.put(accounts, f"k{n}", State(f"k{n}"), 0)
        await cache.hold(Event(n))
    assert accounts.sent == []
    cache.put(accounts, "k2", State("k2"), 0)
    holding = asyncio.create_task(cache.hold(Event(2)))
    await asyncio.sleep(0)
    assert len(accounts.sent) == 3
    for *_, answer in accounts.sent:
        answer.set_result(None)
    await holding
    assert cache.held == []
    assert cache.dirty == {}


@dataclass
class Topic:
    """A topic whose broker answers when the test says: each send's answer, in order."""

    sent: list = field(default_factory=list)

    async def send(self, key: bytes, value: bytes):
        answer = asyncio.get_running_loop().create_future()
        self.sent.append((key, value, answer))
        return answer


async def test_records_sent_on_are_taken_before_the_state_is_stored_and_the_event_acked():
    accounts, lookups = Table("accounts"), Topic()
    cache = WriteBehind([accounts], max_held=100, crash=CrashPoints(None))
    cache.put(accounts, "a", State("a", 1), 0)
    await cache.forward(lookups, b"d:acme.com", b"lookup")
    await cache.hold(event := Event(0))
    flushing = asyncio.create_task(cache.flush())
    await asyncio.sleep(0.01)
    assert accounts.sent == []  # the state waits for what the event sent on
    lookups.sent[0][2].set_exception(RuntimeError("broker down"))
    with pytest.raises(RuntimeError, match="sent again"):
        await flushing
    assert not event.acked
    assert [(k, v) for k, v, _ in lookups.sent] == [(b"d:acme.com", b"lookup")] * 2  # re-sent
    flushing = asyncio.create_task(cache.flush())
    await asyncio.sleep(0.01)
    lookups.sent[1][2].set_result(None)
    await asyncio.sleep(0.01)
    assert [(k, v) for _, k, v, _ in accounts.sent] == [("a", b"a=1")]
    assert not event.acked
    accounts.sent[0][3].set_result(None)
    assert await flushing == 1
    assert event.acked
