"""Erasure requests in a replay: history read again must not bring back whom `abm forget`
erased.

The input topics still hold what their producers wrote before an erasure, so a replay of
them would rebuild an erased account, or name an erased person in its alerts, and
`--publish` would write that out again. So a replay reads every erasure request first (the
erasure topic, or `erasure.jsonl` beside the input files) and applies each to the records
made before it was (`requested_at` against the record's time): an account erased whole
loses them all, and an erased person is taken out of the engagement that named them (the
engagement still counts, by no one) and out of rosters. Records made after a request are
taken as they are, as the live worker takes them: a person who engages again is known
again.
"""

from collections.abc import Iterable

from schemas.common import to_ms
from schemas.inputs import EngagementEvent, ErasureRequest
from streams.logic.inputs.records import AccountInput, InputRecord, RosterInput
from streams.logic.state.erasure import Erased, whose

__all__ = ["ERASED", "FILE", "ErasurePlan"]

ERASED = "erased"
"""How a replay counts the records an erasure kept out (`rejected`)."""
FILE = "erasure.jsonl"
"""Where a replay of input files finds the erasure requests (one JSON request a line)."""


class ErasurePlan:
    """What the erasure requests take out of the records made before them."""

    def __init__(self, requests: Iterable[ErasureRequest], key: bytes | None) -> None:
        self.whole: dict[str, int] = {}
        """Account -> when it was last erased whole (ms)."""
        self.people: dict[str, list[tuple[int, Erased]]] = {}
        """Account -> (when, who) of each person erased from it."""
        for request in requests:
            at = to_ms(request.requested_at)
            person = request.person()
            if person is None:
                self.whole[request.account_id] = max(at, self.whole.get(request.account_id, 0))
            else:
                matcher = whose(person, key)
                self.people.setdefault(request.account_id, []).append((at, matcher))

    def __bool__(self) -> bool:
        return bool(self.whole or self.people)

    def concerns(self, owner: str) -> bool:
        return owner in self.whole or owner in self.people

    def applied(self, owner: str, made: int, record: InputRecord) -> InputRecord | None:
        """The record of `owner` made at `made` (ms) as the requests leave it: itself, a
        copy without an erased person, or None when it is not to be taken at all."""
        if made <= self.whole.get(owner, -1):
            return None
        erased = [who for at, who in self.people.get(owner, ()) if made <= at]
        if not erased:
            return record
        if isinstance(record, AccountInput) and isinstance(record.event, EngagementEvent):
            contact = record.event.contact_id
            if contact is None or not any(who(contact) for who in erased):
                return record
            return AccountInput(owner, record.event.model_copy(update={"contact_id": None}))
        if isinstance(record, RosterInput) and record.roster is not None:
            roster = record.roster
            kept = [c for c in roster.contacts if not any(who(c.contact_id) for who in erased)]
            if len(kept) == len(roster.contacts):
                return record
            return RosterInput(owner, roster.model_copy(update={"contacts": kept}))
        return record
