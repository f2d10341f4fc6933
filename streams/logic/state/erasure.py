"""Erasing a person from an account (GDPR art. 17): every place the engine keeps their id.

A contact's id lives in the day buckets (who engaged), the campaigns' engaged contacts,
the roster, and the alerts waiting in the outbox (their `contacts` and `committee`).
Counts stay counts: a day's points and actions do not name anyone, and the figures
derived from contacts (engaged contacts, personas) are recomputed without the erased one.
Erasing a whole account deletes its state, which the caller does.
"""

import hashlib
import hmac
from collections.abc import Callable

from schemas.outputs import SurgeAlert
from streams.logic.state.roster import Roster
from streams.logic.state.state import SURGE_ALERT, AccountState, CampaignTouch, DayBucket

__all__ = [
    "Erasures",
    "MissingKey",
    "digest",
    "erase_contact",
    "erase_from_roster",
    "names",
    "scrub_alert",
    "whose",
]

Erased = Callable[[str], bool]
"""Whether a contact id is the one being erased (requests name them by digest only)."""


class MissingKey(ValueError):
    """A request names a person by HMAC and this process has no erasure key to match it."""


def digest(contact_id: str, key: bytes) -> str:
    """How an erasure request names a person: an HMAC-SHA256 of their id under the
    erasure key. A plain hash would do for the topic not to hold the id, but an email
    address is guessable, and a list of known addresses would reverse it; the key cannot
    be guessed."""
    return hmac.new(key, contact_id.encode(), hashlib.sha256).hexdigest()


def _tags(contact_id: str, key: bytes | None) -> tuple[str, ...]:
    """The names a request may give the person: by HMAC (with a key), by plain SHA-256
    (requests made before the key)."""
    plain = f"s:{hashlib.sha256(contact_id.encode()).hexdigest()}"
    return (plain,) if key is None else (f"h:{digest(contact_id, key)}", plain)


def whose(person: str | set[str], key: bytes | None) -> Erased:
    """Whether a contact id is `person` (an ErasureRequest.person(), or a set of them).
    MissingKey when one is an HMAC and there is no key to compute it with."""
    people = {person} if isinstance(person, str) else person
    if key is None and any(p.startswith("h:") for p in people):
        raise MissingKey(
            "the request names the person by HMAC and ABM_ERASURE_KEY is not set here: set "
            "the key `abm forget` used on every worker and view process"
        )
    return lambda contact_id: any(tag in people for tag in _tags(contact_id, key))


def names(alert: SurgeAlert, erased: Erased) -> bool:
    return any(erased(c) for c in alert.contacts) or any(
        m.contact_id is not None and erased(m.contact_id) for m in alert.committee
    )


def scrub_alert(alert: SurgeAlert, erased: Erased) -> SurgeAlert:
    """The alert without the contact in its evidence (its count of engaged contacts is a
    fact about the account, kept)."""
    return alert.model_copy(
        update={
            "contacts": [c for c in alert.contacts if not erased(c)],
            "committee": [
                m for m in alert.committee if m.contact_id is None or not erased(m.contact_id)
            ],
        }
    )


def erase_contact(state: AccountState, erased: Erased) -> int:
    """Remove the contact's id from the state; return in how many places it was."""
    found = 0
    holders: list[DayBucket | CampaignTouch] = [*state.engagement.values()]
    holders += state.campaigns.values()
    for holder in holders:
        kept = [c for c in holder.contacts if not erased(c)]
        if len(kept) != len(holder.contacts):
            holder.contacts = kept
            found += 1
    for entry in state.outbox:  # alerts are the only outputs that name contacts
        if entry.kind == SURGE_ALERT:
            alert = SurgeAlert.model_validate_json(entry.value)
            if names(alert, erased):
                entry.value = scrub_alert(alert, erased).model_dump_json()
                found += 1
    if found:
        state.windows = None  # its engaged-contact counts included the contact
    return found


def erase_from_roster(roster: Roster | None, erased: Erased) -> Roster | None:
    """The roster without the contact; None when it did not hold them."""
    if roster is None:
        return None
    contacts = {c: fields for c, fields in roster.contacts.items() if not erased(c)}
    if len(contacts) == len(roster.contacts):
        return None
    return Roster(
        account_id=roster.account_id,
        contacts=contacts,
        updated_at=roster.updated_at,
        source=roster.source,
        offset=roster.offset,
    )


class Erasures:
    """The erasure requests a view process has read, and what they keep out of Redis.

    A view process reads the output topics and the state changelogs, which still hold
    what was written before an erasure, in no fixed order with the request. So what it
    writes is checked here, whatever it reads first: an alert never names an erased
    person (the person is scrubbed from it, as the worker does for alerts in an outbox),
    an account state is written without them, and an erased account's alerts and
    changes are dropped while the view holds no state for it (a state made by events
    after the erasure brings it back, as in the worker).
    """

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key
        """The erasure key, to match people named by HMAC."""
        self.accounts: set[str] = set()
        """Accounts erased whole."""
        self.contacts: dict[str, set[str]] = {}
        """Account -> the people erased from it, as requests name them (person())."""

    def add(self, account_id: str, person: str | None) -> None:
        """Note a request; MissingKey (and nothing noted) for one this process cannot
        match."""
        if person is None:
            self.accounts.add(account_id)
        else:
            whose(person, self.key)
            self.contacts.setdefault(account_id, set()).add(person)

    def clear(self) -> None:
        self.accounts.clear()
        self.contacts.clear()

    def __bool__(self) -> bool:
        return bool(self.accounts or self.contacts)

    def concerns(self, account_id: str) -> bool:
        return account_id in self.accounts or account_id in self.contacts

    def _erased(self, account_id: str) -> Erased | None:
        people = self.contacts.get(account_id)
        if not people:
            return None
        return whose(people, self.key)

    def scrub_state(self, state: AccountState) -> None:
        """Remove every erased person of the account from a state about to be written."""
        erased = self._erased(state.account_id)
        if erased is not None:
            erase_contact(state, erased)

    def dropped(self, account_id: str, held: bool) -> bool:
        """Whether an output of the account stays out of Redis: it was erased whole and
        the view `held` no state for it since."""
        return account_id in self.accounts and not held

    def alert(self, alert: SurgeAlert, held: bool) -> SurgeAlert | None:
        """The alert as it may enter Redis: None when dropped, else without erased people."""
        if self.dropped(alert.account_id, held):
            return None
        erased = self._erased(alert.account_id)
        if erased is None or not names(alert, erased):
            return alert
        return scrub_alert(alert, erased)

    def gone(self, alert: SurgeAlert, held: bool) -> bool:
        """Whether an alert already in Redis must leave it (dropped, or naming someone
        erased; one is deleted, not rewritten, as the worker's erasure does)."""
        if self.dropped(alert.account_id, held):
            return True
        erased = self._erased(alert.account_id)
        return erased is not None and names(alert, erased)
