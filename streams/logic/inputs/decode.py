"""Bytes to a validated event, or a precise reason why not: the gate every input passes."""

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.common import MAX_PAYLOAD_BYTES, Id
from schemas.inputs import (
    MAX_ROSTER_BYTES,
    AccountProfile,
    ContactRoster,
    DealEvent,
    EngagementEvent,
    IntentEvent,
    SalesActivity,
    SpendEvent,
)
from schemas.outputs import DeadLetter, DeadLetterReason

__all__ = [
    "DEAD_LETTER_KEY_BYTES",
    "DEAD_LETTER_VALUE_BYTES",
    "INPUT_MODELS",
    "Coords",
    "Event",
    "InputKind",
    "Rejected",
    "dead_letter",
    "decode",
    "decode_roster",
    "id_of",
    "owner_of",
    "tombstone_owner",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class Coords:
    """Where a record came from; `timestamp` is the Kafka record time in epoch ms."""

    topic: str
    partition: int
    offset: int
    timestamp: int

    @property
    def source(self) -> str:
        """`topic:partition`: a state keeps the last offset it applied from each source."""
        return f"{self.topic}:{self.partition}"


Event = EngagementEvent | IntentEvent | DealEvent | SpendEvent | SalesActivity | AccountProfile
"""What is applied to an account's (or a campaign's) state."""


class InputKind(StrEnum):
    """The input topics, by their field in `Topics` (and their replay file's name)."""

    ENGAGEMENT = "engagement"
    INTENT = "intent"
    DEALS = "deals"
    ACCOUNTS = "accounts"
    """Profiles; a tombstone removes the account its key names."""
    SPEND = "spend"
    CONTACTS = "contacts"
    """Rosters: a record replaces the account's roster, a tombstone clears it."""
    SALES_ACTIVITIES = "sales_activities"
    """Reps' calls, emails, meetings: what answers an alert (not engagement)."""


INPUT_MODELS: dict[InputKind, type[BaseModel]] = {
    InputKind.ENGAGEMENT: EngagementEvent,
    InputKind.INTENT: IntentEvent,
    InputKind.DEALS: DealEvent,
    InputKind.ACCOUNTS: AccountProfile,
    InputKind.SPEND: SpendEvent,
    InputKind.CONTACTS: ContactRoster,
    InputKind.SALES_ACTIVITIES: SalesActivity,
}


class Rejected(Exception):
    def __init__(self, reason: DeadLetterReason, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def owner_of(event: BaseModel) -> str:
    """Whose state an event changes, and so its record key: the account, or for spend not
    tied to an account, the campaign."""
    if isinstance(event, SpendEvent) and event.account_id is None:
        return event.campaign_id
    account: str = getattr(event, "account_id")  # noqa: B009 - every input model has one
    return account


def decode(model: type[M], key: bytes | None, value: bytes | None) -> M:
    """Validate one record; the key must be its owner's id (ordering relies on it)."""
    if value is None:
        raise Rejected(DeadLetterReason.INVALID_JSON, "record has no value (tombstone)")
    limit = MAX_ROSTER_BYTES if model is ContactRoster else MAX_PAYLOAD_BYTES
    if len(value) > limit:
        raise Rejected(DeadLetterReason.TOO_LARGE, f"{len(value)} bytes > limit of {limit}")
    try:
        event = model.model_validate_json(value)
    except ValidationError as exc:
        json_broken = any(e["type"] == "json_invalid" for e in exc.errors())
        reason = DeadLetterReason.INVALID_JSON if json_broken else DeadLetterReason.INVALID_PAYLOAD
        raise Rejected(reason, _explain(exc)) from None
    owner = owner_of(event)
    if key is None:
        raise Rejected(DeadLetterReason.KEY_MISMATCH, f"record has no key; key it by {owner!r}")
    if key != owner.encode():
        shown = key[:64].decode("utf-8", "replace")
        raise Rejected(DeadLetterReason.KEY_MISMATCH, f"key {shown!r} differs from {owner!r}")
    return event


_ID: TypeAdapter[str] = TypeAdapter(Id)


def decode_roster(key: bytes | None, value: bytes | None) -> tuple[str, ContactRoster | None]:
    """(account, roster) of a contacts record; None for a tombstone, which clears the
    account's roster (its key names the account)."""
    if value is not None:
        roster = decode(ContactRoster, key, value)
        return roster.account_id, roster
    return tombstone_owner(key), None


def id_of(text: str) -> str:
    """`text` if it is a valid id (ValidationError otherwise)."""
    return _ID.validate_python(text)


def tombstone_owner(key: bytes | None) -> str:
    """The account a tombstone (a record with no value) names by its key."""
    account = (key or b"").decode("utf-8", "replace")
    try:
        return _ID.validate_python(account)
    except ValidationError:
        shown = account[:64] or "no key"
        raise Rejected(
            DeadLetterReason.KEY_MISMATCH, f"a tombstone's key must be an account id, not {shown!r}"
        ) from None


DEAD_LETTER_VALUE_BYTES = 128 * 1024
"""The prefix of a refused value a dead letter keeps. JSON may write a control byte as six
(`\\u0000`), so the dead letter stays far below the broker's 1 MB however hostile the
bytes; `value_bytes` and `value_sha256` describe the whole, which its offset still holds."""
DEAD_LETTER_KEY_BYTES = 1024


def _text(raw: bytes, limit: int) -> tuple[str, bool]:
    """(the first `limit` bytes as text, whether that is UTF-8); a cut inside a UTF-8
    character is moved back to its start rather than turning the text into base64."""
    cut = raw[:limit]
    for trim in range(4 if len(raw) > limit else 1):
        try:
            return cut[: len(cut) - trim].decode("utf-8"), True
        except UnicodeDecodeError:
            continue
    return base64.b64encode(cut).decode("ascii"), False


def dead_letter(
    source: str,
    where: Coords | None,
    key: bytes | None,
    value: bytes | None,
    rejected: Rejected,
    now_ms: int,
    route: str | None = None,
) -> DeadLetter:
    """The dead-letter record: the raw bytes (base64 when not UTF-8) up to a bound that keeps
    it sendable, and the whole value's length and SHA-256.

    `where` is the input record's place in its topic; None for an output that could not
    be delivered (an alert the webhook refused), which has no input offset.
    """
    raw = value or b""
    key_text = None if key is None else _text(key, DEAD_LETTER_KEY_BYTES)[0]
    value_text, is_utf8 = _text(raw, DEAD_LETTER_VALUE_BYTES)
    truncated = len(raw) > DEAD_LETTER_VALUE_BYTES or len(key or b"") > DEAD_LETTER_KEY_BYTES
    return DeadLetter(
        source_topic=source,
        partition=None if where is None else where.partition,
        offset=None if where is None else where.offset,
        key=key_text,
        value=value_text,
        encoding="utf-8" if is_utf8 else "base64",
        value_bytes=len(raw),
        value_sha256=hashlib.sha256(raw).hexdigest(),
        truncated=truncated,
        reason=rejected.reason,
        error=rejected.error[:2000],
        failed_at=datetime.fromtimestamp(now_ms / 1000, tz=UTC),
        route=route,
    )
