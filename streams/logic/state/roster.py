"""An account's contact roster as the worker keeps it: its own table, not the account state.

A roster is up to 500 contacts (tens of KB); the account state is written at every event,
the roster only when the CRM sends a new one. Kept apart, engagement pays nothing for it,
and contacts are classified into personas when read (committee.py), so new persona rules
apply to every roster at once and a roster arriving after its contacts engaged
re-classifies them without any event being sent again.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from schemas.common import to_ms
from schemas.inputs import ContactRoster
from streams.logic.state.cache import Derived

__all__ = ["NO_ROSTERS", "Roster", "Rosters", "received"]


def _transient(value: object) -> None:
    if not isinstance(value, Derived):
        raise TypeError(f"{type(value).__name__} is not part of a stored roster")


@dataclass(slots=True)
class Roster:
    """The latest roster record of an account (compaction's truth: record order wins, not
    `updated_at`, so what the worker holds is what a compacted topic keeps)."""

    account_id: str
    contacts: dict[str, list[str | None]] = field(default_factory=dict)
    """contact_id -> [title, department, seniority], as the CRM gave them."""
    updated_at: int = 0
    source: str = ""
    """The topic-partition the record came from, and its `offset`: a record at or below
    it was applied already (redelivery)."""
    offset: int = -1
    classified: Derived | None = field(default=None, compare=False, repr=False)
    """The contacts' personas under one rule set (committee.py); stored as null."""

    @classmethod
    def of(cls, record: ContactRoster, source: str, offset: int) -> "Roster":
        return cls(
            account_id=record.account_id,
            contacts={c.contact_id: [c.title, c.department, c.seniority] for c in record.contacts},
            updated_at=to_ms(record.updated_at),
            source=source,
            offset=offset,
        )

    def to_json(self) -> bytes:
        return orjson.dumps(self, default=_transient)

    @classmethod
    def from_json(cls, raw: bytes) -> "Roster":
        data: dict[str, Any] = orjson.loads(raw)
        data.pop("classified", None)
        return cls(**data)


class Rosters(Protocol):
    """Where the decisions find an account's roster: a table in the worker, a dict in a
    replay. Looked up only when a decision needs personas."""

    def get(self, account_id: str, /) -> Roster | None: ...


NO_ROSTERS: dict[str, Roster] = {}


def received(
    current: Roster | None,
    account_id: str,
    record: ContactRoster | None,
    source: str,
    offset: int,
    timestamp: int,
) -> Roster | None:
    """The account's roster after a contacts record from `source` at `offset` (a tombstone,
    None, leaves an empty roster: no one is known any more); None when that record was
    applied already."""
    if current is not None and current.source == source and current.offset >= offset:
        return None
    if record is None:
        return Roster(account_id=account_id, updated_at=timestamp, source=source, offset=offset)
    return Roster.of(record, source, offset)
