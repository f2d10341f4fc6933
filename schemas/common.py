"""Shared field types: strict ids, bounded strings and UTC event-time timestamps."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "RECORD_MAX_BYTES",
    "Amount",
    "Contract",
    "EventTime",
    "Id",
    "Label",
    "Output",
    "Score",
    "from_ms",
    "parse_event_time",
    "to_ms",
]

MAX_PAYLOAD_BYTES = 64 * 1024
"""Larger records are dead-lettered before parsing: no legitimate event is near this size."""

RECORD_MAX_BYTES = 1_000_000
"""The largest record value the engine writes (states, outputs, dead letters): what
Kafka producers send by default, under what brokers take by default (1,048,588 bytes).
The worker's producer and the topics it creates are set to take a little more
(streams/clients/admin.py): the key and the record's framing."""

# Event time must be plausible: year 1 or 9999 is a bug upstream, not history.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_EARLIEST_MS, _LATEST_MS = int(_EARLIEST.timestamp() * 1000), int(_LATEST.timestamp() * 1000)


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime: the unit state and windows are kept in."""
    return int(value.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def parse_event_time(value: Any) -> datetime:
    """Accept ISO-8601 with an offset or epoch milliseconds; store as UTC.

    Naive strings are refused: guessing a zone shifts daily buckets silently.
    Booleans are refused although Python treats them as ints.
    """
    if type(value) is int and _EARLIEST_MS <= value < _LATEST_MS:
        # The common case, first: every event passes here (live and in replay), and the
        # checks below cost as much again. The rest explain what is wrong precisely.
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, bool):
        raise ValueError("timestamp must be ISO-8601 text or epoch milliseconds, not a boolean")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a UTC offset")
        parsed = value.astimezone(UTC)
    elif isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("timestamp must be a finite number of epoch milliseconds")
        try:
            parsed = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError("epoch milliseconds out of range") from exc
    elif isinstance(value, str):
        if len(value) > 40:
            raise ValueError("timestamp text too long")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("timestamp must be ISO-8601, e.g. 2026-11-23T09:00:00Z") from exc
        if parsed.tzinfo is None:
            raise ValueError("timestamp must carry a UTC offset (e.g. Z or +01:00)")
        parsed = parsed.astimezone(UTC)
    else:
        raise ValueError("timestamp must be ISO-8601 text or epoch milliseconds")
    if not _EARLIEST <= parsed < _LATEST:
        raise ValueError(f"timestamp {parsed.isoformat()} outside 2000-01-01..2100-01-01")
    return parsed


EventTime = Annotated[
    datetime,
    BeforeValidator(parse_event_time),
    PlainSerializer(lambda v: v.isoformat().replace("+00:00", "Z"), return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "integer", "description": "epoch milliseconds"},
            ],
            "description": "Event time: ISO-8601 with a UTC offset, or epoch milliseconds.",
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "description": "UTC, ISO-8601 with a Z"},
        mode="serialization",
    ),
]

Id = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@/+-]+$")
]
"""Identifiers travel as Redis key parts and Kafka keys: no spaces, no control characters."""

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Score = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Amount = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


class Contract(BaseModel):
    """Base of every input payload: strict types, unknown fields refused, immutable once parsed.

    Refusing what we do not know protects decisions: a misspelt optional field (say
    `duration_sec`) would otherwise be dropped silently and score the event differently.
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        ser_json_inf_nan="null",
    )


class Output(Contract):
    """Base of every payload we publish: open to fields added later.

    A consumer holding today's model (or validating against today's schema) must still
    read tomorrow's records, which may carry new fields: those are ignored, not refused.
    Every field is always written, so the published schema lists defaulted ones as required.
    """

    model_config = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)
