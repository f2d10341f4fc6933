"""What gives way when an account's stored record would outgrow what a broker takes.

Every kind of an account's state is bounded on its own: days by `retention_days`, engaged
contacts by `max_contacts_per_day`, remembered ids by their budget (seen.py), and the
kinds with open-ended keys (intent topics and providers, opportunities, campaigns) by
`rules.limits`. Their product can still pass `STATE_MAX_BYTES` for an account that hits
several bounds at once, and a record the producer refuses would stop the whole worker, not
that account. So the record is measured when it is written, and past the bound gives up,
in this order, what costs the least to lose:

1. `seen`: the remembered event ids. Redelivery stays exact through the offsets; only a
   source sending one event twice, at two offsets, would be counted twice.
2. `campaign_contacts`: who engaged with each campaign, the longest list first. A
   report's figure (a campaign's engaged contacts) reads low; no decision reads it.
3. `contacts`: who engaged on each day, the oldest day first. The days' points, actions
   and channels stay; distinct-contact counts over those days (a tier's, a journey
   stage's, the buying committee's) read low.

What is shed is gone from the stored record and from the state in memory, so a recovered
worker and this one agree. Only the live worker sheds: a replay keeps its states in memory
and never writes a record, so the two differ for an account only once it has shed.
"""

from collections.abc import Callable, Iterator

from schemas.common import RECORD_MAX_BYTES
from streams.logic.state.seen import SeenIds
from streams.logic.state.state import AccountState

__all__ = ["SHEDDABLE", "STATE_MAX_BYTES", "UNSTORED", "Fitted", "fitted"]

STATE_MAX_BYTES = RECORD_MAX_BYTES * 9 // 10
"""The size past which an account's record sheds: a tenth under the largest record the
engine writes, so a record that shed stays under it with room for what grows meanwhile."""


def _seen(state: AccountState) -> Iterator[None]:
    if state.seen:
        state.seen = SeenIds()
        yield


def _contacts(state: AccountState) -> Iterator[None]:
    for day in sorted(state.engagement):
        contacts = state.engagement[day].contacts
        if contacts:
            contacts.clear()
            state.windows = None  # its distinct contacts are counted again when next read
            yield


def _campaign_contacts(state: AccountState) -> Iterator[None]:
    for touch in sorted(state.campaigns.values(), key=lambda t: -len(t.contacts)):
        if touch.contacts:
            touch.contacts.clear()
            yield


SHEDDABLE: dict[str, Callable[[AccountState], Iterator[None]]] = {
    "seen": _seen,
    "campaign_contacts": _campaign_contacts,
    "contacts": _contacts,
}
"""What can give way, in order; each step yields after giving up one piece."""
UNSTORED = "unstored"
"""What a record too large even with everything shed is reported as: it is not stored."""


class Fitted:
    """An account's record as written, and what was shed to make it fit (empty when
    nothing was). `raw` is still over the bound when shedding everything was not enough."""

    __slots__ = ("raw", "shed")

    def __init__(self, raw: bytes, shed: list[str]) -> None:
        self.raw = raw
        self.shed = shed


def fitted(state: AccountState, limit: int = STATE_MAX_BYTES) -> Fitted:
    """The state's record, with what gives way shed until it is at most `limit` bytes."""
    raw = state.to_json()
    shed: list[str] = []
    if len(raw) <= limit:
        return Fitted(raw, shed)
    for part, steps in SHEDDABLE.items():
        for _ in steps(state):
            if not shed or shed[-1] != part:
                shed.append(part)
            raw = state.to_json()
            if len(raw) <= limit:
                return Fitted(raw, shed)
    return Fitted(raw, shed)
