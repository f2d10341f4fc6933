"""Producing JSON lines to a topic and reading a topic back: the CLI's and tests' Kafka I/O."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.clients.kafka import client_options, started
from streams.config import Settings
from streams.logic.identity.domains import email_domain
from streams.logic.identity.redact import contact_of

__all__ = ["BadLine", "keyed_lines", "owner_key", "produce", "read_topic"]


class BadLine(ValueError):
    """A JSON-lines input line that cannot be sent; the message names the line."""


@dataclass(frozen=True, slots=True)
class Keyed:
    key: bytes | None
    value: bytes


def owner_key(payload: dict) -> bytes | None:
    """The record key: whose state the event changes, the account or, for spend without
    one, the campaign (the worker checks the same)."""
    owner = payload.get("account_id") or payload.get("campaign_id")
    return owner.encode() if isinstance(owner, str) else None


def _hashed_roster(payload: dict, key: bytes | None, where: str) -> dict:
    """A roster from a CRM export that names contacts by address: each contact's `email`
    becomes its `contact_id` (the keyed hash the collector and the workers make of it),
    and the address goes no further."""
    contacts = payload.get("contacts")
    if not isinstance(contacts, list) or not any(
        isinstance(c, dict) and "email" in c for c in contacts
    ):
        return payload
    if key is None:
        raise BadLine(f"{where}: contacts named by email need ABM_IDENTITY_KEY to be hashed")
    out = []
    for contact in contacts:
        if isinstance(contact, dict) and "email" in contact:
            contact = dict(contact)
            address = contact.pop("email")
            if not isinstance(address, str) or email_domain(address) is None:
                raise BadLine(f"{where}: {address!r} is not an email address")
            contact.setdefault("contact_id", contact_of(address, key))
        out.append(contact)
    return {**payload, "contacts": out}


def keyed_lines(
    lines: Iterable[bytes],
    source: str = "input",
    *,
    rosters: bool = False,
    identity_key: bytes | None = None,
) -> list[Keyed]:
    """Parse every line first, so a bad file is refused whole instead of half sent.
    `rosters`: the lines are contact rosters, whose contacts may be named by address."""
    out = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            payload = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BadLine(f"{source}:{number}: not JSON ({exc})") from None
        if not isinstance(payload, dict):
            raise BadLine(f"{source}:{number}: expected a JSON object")
        owner = payload.get("account_id") or payload.get("campaign_id")
        if owner is not None and not isinstance(owner, str):
            raise BadLine(f"{source}:{number}: account_id (or campaign_id) must be a string")
        if rosters:
            hashed = _hashed_roster(payload, identity_key, f"{source}:{number}")
            line = line if hashed is payload else orjson.dumps(hashed)
        out.append(Keyed(owner_key(payload), line))
    return out


async def produce(settings: Settings, topic: str, records: Iterable[Keyed]) -> int:
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=20, acks="all")
    await started(producer)
    try:
        futures = [await producer.send(topic, r.value, key=r.key) for r in records]
        await producer.flush()
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = False,
    max_records: int | None = None,
    timeout_s: float | None = None,
) -> AsyncIterator[tuple[bytes | None, bytes]]:
    """Yield (key, value) from every partition, without a consumer group (nothing committed).

    Stops after `max_records`, or after `timeout_s` without a new record.
    """
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    await started(consumer)
    try:
        if topic not in await consumer.topics():
            raise LookupError(f"topic {topic!r} does not exist")
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        seen = 0
        idle_since = time.monotonic()
        while max_records is None or seen < max_records:
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                if timeout_s is not None and time.monotonic() - idle_since > timeout_s:
                    return
                continue
            idle_since = time.monotonic()
            for record in records:
                yield record.key, record.value
                seen += 1
                if max_records is not None and seen >= max_records:
                    return
    finally:
        await consumer.stop()
