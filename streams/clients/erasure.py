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

from schemas.inputs import ErasureOutcome, ErasureRequest
from streams.clients.produce_tail import Keyed, produce
from streams.clients.redis import sync_redis
from streams.clients.redis_keys import RedisKeys
from streams.config import Settings
from streams.logic.inputs.decode import id_of
from streams.logic.state.erasure import MissingKey, digest

__all__ = ["Unconfirmed", "erasure_request", "outcome", "send"]

POLL_S = 0.2


class Unconfirmed(Exception):
    """Nobody confirmed in time; the message says who did not and what happens next."""


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
