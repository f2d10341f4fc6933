"""One call made what Segment would store, then redacted and validated into a record.

What Segment's API does to a call before anything reads it, done here the same way:

- a batch's top-level `context` and `integrations` are merged into each of its calls,
  the call's own keys winning (a key's value is replaced, not merged deeper);
- a call without a `messageId` gets one (a UUID), the id the workers drop repeats by;
- `receivedAt` is now, in UTC;
- clock skew: a browser's clock can be hours off, and the event time decides which day
  an engagement counts on. When the call has `sentAt` (its own, or the batch's) and one
  client time (`timestamp`, else `originalTimestamp`), that time is kept as
  `originalTimestamp` and `timestamp` becomes `receivedAt - (sentAt - originalTimestamp)`:
  how long ago the client says it happened, measured on our clock. A server SDK sending
  history (an old `timestamp`, `sentAt` now) keeps its time to within the network's
  delay. A call carrying both times was corrected by whoever sent it, and is left alone;
  so is a relayed call (a Segment webhook destination sends calls Segment already
  processed), whose own `receivedAt` is kept too.

The `writeKey` is dropped: the topic has no use for it, and whoever reads the topic
should not learn it. Then `redact` removes every email address, and `read_call` refuses
what the workers could not read; the record is keyed by the call's person, as the
workers' partitioning expects.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.common import parse_event_time
from streams.collect.body import CALL_MAX_BYTES, Refused
from streams.logic.identity.redact import redact
from streams.logic.identity.segment import BadCall, SegmentSource, read_call

__all__ = [
    "MAX_CALLS",
    "SHARED_BUDGET_BYTES",
    "Batch",
    "Record",
    "batch_of",
    "enrich",
    "iso",
    "prepare",
    "relayed_calls",
]

MAX_CALLS = 2_500
"""Calls in one batch, as Segment allows; those past it are refused one by one."""
SHARED_BUDGET_BYTES = 1024 * 1024
"""A batch's context and integrations times its calls: the bytes merging may add. A
500 KB batch of small calls with a large shared context would otherwise make the server
redact and produce far more than it was sent."""


@dataclass(frozen=True, slots=True)
class Batch:
    """What a batch says for all its calls (nothing, for a call sent alone)."""

    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sent_at: Any = None


@dataclass(frozen=True, slots=True)
class Record:
    """A call as produced: keyed by its person, the redacted call as JSON."""

    key: bytes
    value: bytes


def iso(moment: datetime) -> str:
    """UTC, to the millisecond, as Segment writes times: `2026-05-01T09:30:00.123Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _shared(payload: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Refused(400, "bad_batch", f"{name}: must be an object")
    return value


def batch_of(payload: Any) -> tuple[list[Any], Batch]:
    """The calls of a batch body and what they share; Refused when it is no batch."""
    if not isinstance(payload, dict) or not isinstance(calls := payload.get("batch"), list):
        raise Refused(400, "bad_batch", "a batch is an object whose `batch` is a list of calls")
    batch = Batch(
        _shared(payload, "context"), _shared(payload, "integrations"), payload.get("sentAt")
    )
    if batch.context or batch.integrations:
        shared = len(orjson.dumps([batch.context, batch.integrations]))
        if shared * len(calls) > SHARED_BUDGET_BYTES:
            raise Refused(
                413,
                "too_large",
                f"the batch's context and integrations ({shared} bytes) merged into each of "
                f"its {len(calls)} calls come to over {SHARED_BUDGET_BYTES} bytes: send "
                "smaller batches",
            )
    return calls, batch


def relayed_calls(payload: Any) -> list[Any]:
    """A webhook's body: one call, or a list of them (a batching destination's)."""
    return payload if isinstance(payload, list) else [payload]


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_event_time(value)
    except ValueError:
        return None


def _corrected(received_at: datetime, sent_at: Any, original: Any) -> str | None:
    sent, then = _time(sent_at), _time(original)
    if sent is None or then is None:
        return None
    try:
        return iso(received_at - (sent - then))
    except OverflowError:
        return None


def enrich(
    call: dict[str, Any], batch: Batch, received_at: datetime, *, relayed: bool = False
) -> dict[str, Any]:
    """The call as Segment's API would pass it on (the module's docstring says what)."""
    out = dict(call)
    out.pop("writeKey", None)
    for name, shared in (("context", batch.context), ("integrations", batch.integrations)):
        own = out.get(name)
        if shared and (own is None or isinstance(own, dict)):
            out[name] = {**shared, **(own or {})}
    if not out.get("messageId"):
        out["messageId"] = str(uuid.uuid4())
    if relayed:
        out.setdefault("receivedAt", iso(received_at))
        return out
    out["receivedAt"] = iso(received_at)
    if out.get("sentAt") is None and batch.sent_at is not None:
        out["sentAt"] = batch.sent_at
    has_time, has_original = "timestamp" in out, "originalTimestamp" in out
    if has_time != has_original:
        original = out["timestamp"] if has_time else out["originalTimestamp"]
        if (corrected := _corrected(received_at, out.get("sentAt"), original)) is not None:
            out["originalTimestamp"] = original
            out["timestamp"] = corrected
    return out


def prepare(
    call: Any,
    batch: Batch,
    received_at: datetime,
    *,
    identity_key: bytes | None,
    source: SegmentSource,
    relayed: bool = False,
) -> Record:
    """The record to produce for one call; BadCall says why there is none.

    The size is measured on the call as sent, before anything is merged into it, as
    Segment and its SDKs measure it; serializing it also refuses what could not be
    written back (nesting past orjson's 254 levels, integers past 64 bits), before the
    redaction walks it."""
    if not isinstance(call, dict):
        raise BadCall("a call must be a JSON object")
    try:
        size = len(orjson.dumps(call))
    except orjson.JSONEncodeError as exc:
        raise BadCall(f"the call cannot be stored: {exc}") from None
    if size > CALL_MAX_BYTES:
        raise BadCall(f"the call is {size} bytes, over the limit of {CALL_MAX_BYTES}")
    clean = redact(enrich(call, batch, received_at, relayed=relayed), identity_key)
    person = read_call(clean, source).person
    return Record(person.encode(), orjson.dumps(clean))
