"""Erasing an account, or one person of it: the request sent on the erasure topic, and the
wait for the engine to say it is done.

The request goes through the topic, keyed by the account, so the worker holding the
account applies it in order with the account's own records (even a worker started
later). That worker leaves an `ErasureOutcome` in Redis under the request's id; where
`abm view` processes keep Redis, one of them also leaves its word that Redis holds
nothing more of it.
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime

import orjson

from schemas.inputs import ErasureOutcome, ErasureRequest
from streams.clients.produce_tail import Keyed, produce
from streams.clients.redis import sync_redis
from streams.clients.redis_keys import RedisKeys
from streams.clients.topic_read import topic_records
from streams.config import DIRECTORY_TABLE, Settings
from streams.logic.identity.directory import Entry
from streams.logic.identity.domains import email_domain
from streams.logic.identity.match import contact_key, domain_key
from streams.logic.identity.redact import ADDRESS, contact_of
from streams.logic.inputs.decode import id_of
from streams.logic.state.erasure import MissingKey, digest

__all__ = [
    "NotAnAddress",
    "Unconfirmed",
    "accounts_of",
    "erasure_request",
    "forget_person",
    "outcome",
    "send",
]

POLL_S = 0.2


class Unconfirmed(Exception):
    """Nobody confirmed in time; the message says who did not and what happens next."""


class NotAnAddress(ValueError):
    """`abm forget --email` was given something that is not an email address."""


def person_of(settings: Settings, address: str) -> str:
    """The contact id an address became (the same HMAC `abm collect` and the workers
    make); MissingKey without ABM_IDENTITY_KEY, NotAnAddress for a malformed one."""
    key = settings.identity_key_bytes()
    if key is None:
        raise MissingKey(
            "forgetting a person by address needs ABM_IDENTITY_KEY (the key the collector "
            "and the workers hash addresses under): without it, no one is known by address"
        )
    if not ADDRESS.fullmatch(address.strip()) or email_domain(address) is None:
        raise NotAnAddress(f"{address!r} is not an email address")
    return contact_of(address, key)


def accounts_of(settings: Settings, address: str) -> list[str]:
    """The accounts the person of `address` is placed at: the one whose roster lists
    their contact id, and the one claiming their address's domain (from the directory's
    changelog, as the workers last stored it)."""
    wanted = [contact_key(person_of(settings, address))]
    if (domain := email_domain(address)) is not None:
        wanted.append(domain_key(domain))
    keys = {orjson.dumps(key): key for key in wanted}
    latest: dict[str, bytes | None] = {}
    changelog = settings.changelog(DIRECTORY_TABLE)
    for key, value in asyncio.run(topic_records(settings, changelog)):
        if key in keys:
            latest[keys[key]] = value
    found = (Entry.from_json(value).account for value in latest.values() if value is not None)
    return list(dict.fromkeys(a for a in found if a is not None))


def forget_person(settings: Settings, address: str) -> str:
    """Ask the workers to delete what account matching keeps of the person (their record
    and those of the ids they were seen with); their contact id, for the accounts' part."""
    person = person_of(settings, address)
    record = Keyed(person.encode(), orjson.dumps({"t": "forget", "spread": True}))
    asyncio.run(produce(settings, settings.topics.people, [record]))
    return person


def erasure_request(account_id: str, contact_id: str | None, key: bytes | None) -> ErasureRequest:
    """The request (the person's id only as an HMAC under the erasure `key`);
    ValidationError for a bad id, MissingKey for a person and no key."""
    if contact_id is not None and key is None:
        raise MissingKey(
            "erasing a person needs ABM_ERASURE_KEY (the key the workers and view processes "
            "have): the request names them by an HMAC of their id under it"
        )
    return ErasureRequest(
        request_id=uuid.uuid4().hex,
        account_id=account_id,
        contact_hmac=None if contact_id is None or key is None else digest(id_of(contact_id), key),
        requested_at=datetime.now(UTC),
    )


def send(settings: Settings, request: ErasureRequest) -> None:
    record = Keyed(request.account_id.encode(), request.model_dump_json().encode())
    asyncio.run(produce(settings, settings.topics.erasure, [record]))


def outcome(settings: Settings, request: ErasureRequest, timeout_s: float) -> ErasureOutcome:
    """Wait until the request sent is applied: by the worker and, where `abm view` keeps
    Redis, by a view process too. Raise Unconfirmed after `timeout_s`."""
    client = sync_redis(settings)
    keys = RedisKeys(settings.redis_prefix)
    deadline = time.monotonic() + timeout_s
    try:
        while (done := client.get(keys.erasure(request.request_id))) is None:
            if time.monotonic() > deadline:
                raise Unconfirmed(
                    f"no worker confirmed the erasure within {timeout_s:.0f}s; the request "
                    f"waits on {settings.topics.erasure} and is applied when the account's "
                    "worker runs"
                )
            time.sleep(POLL_S)
        reported = ErasureOutcome.model_validate_json(done)
        viewed = keys.erasure_viewed(request.request_id)
        while reported.view_process and not client.exists(viewed):
            if time.monotonic() > deadline:
                raise Unconfirmed(
                    f"the worker erased it, but no `abm view` confirmed within {timeout_s:.0f}s "
                    "that Redis holds none of it; it will once a view process runs"
                )
            time.sleep(POLL_S)
    finally:
        client.close()
    return reported
