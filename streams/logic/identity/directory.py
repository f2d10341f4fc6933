"""The directory: which account each domain, contact and account id names.

It is kept partitioned by its own key (`d:acme.com`, `c:<contact>`, `a:<account>`), so
the lookup for a key happens on the partition that owns it. An account's entry (`a:`)
remembers the domains and contacts it last claimed, so a new profile or roster can
withdraw the ones it no longer lists: each change becomes `set` and `unset` notes for
the keys concerned, which the worker sends to those keys' partitions. Two accounts
claiming one domain: the later claim holds, and withdrawing it leaves the other's
claim withdrawn too until its profile comes again (a profile names its domains whole
every time, so the next one restores it).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from streams.logic.identity.domains import registrable
from streams.logic.identity.match import contact_key, domain_key
from streams.logic.identity.people import DAY_MS, activity_to
from streams.logic.identity.segment import Activity

__all__ = [
    "Changes",
    "Entry",
    "Waiting",
    "claim",
    "claim_profile",
    "claim_roster",
    "domains_of",
    "keep",
    "release",
    "withdraw",
]


@dataclass(frozen=True, slots=True)
class Waiting:
    """An event of a business domain no account claims yet, kept under the domain."""

    event_id: str
    at: int
    activity: Activity
    contact: str | None


@dataclass(slots=True)
class Entry:
    account: str | None = None
    """The account this key names; for an `a:` key, the account itself once profiled."""
    domains: tuple[str, ...] = ()
    """An `a:` entry's claimed domains."""
    contacts: tuple[str, ...] = ()
    """An `a:` entry's claimed contacts."""
    waiting: list[Waiting] = field(default_factory=list)
    """A `d:` entry no account claims: its recent events, for the account that claims it
    (marketing adds the account `abm unmatched` named, and it gets its engagement)."""

    def to_json(self) -> bytes:
        waiting = [[w.event_id, w.at, *activity_to(w.activity), w.contact] for w in self.waiting]
        return orjson.dumps([self.account, self.domains, self.contacts, waiting])

    @classmethod
    def from_json(cls, raw: bytes) -> "Entry":
        account, domains, contacts, *rest = orjson.loads(raw)
        waiting = [Waiting(w[0], w[1], Activity(*w[2:6]), w[6]) for w in (rest[0] if rest else [])]
        return cls(account, tuple(domains), tuple(contacts), waiting)


@dataclass(frozen=True, slots=True)
class Changes:
    """Keys to point at the account, and keys to stop pointing at it."""

    set: tuple[str, ...]
    unset: tuple[str, ...]


def domains_of(domain: str | None, aliases: list[str]) -> tuple[str, ...]:
    """A profile's registrable domains: its `domain` and its aliases, each once."""
    found = (registrable(d) for d in ([domain] if domain else []) + aliases)
    return tuple(dict.fromkeys(d for d in found if d is not None))


def _diff(old: tuple[str, ...], new: tuple[str, ...], key: Callable[[str], str]) -> Changes:
    return Changes(tuple(key(k) for k in new), tuple(key(k) for k in old if k not in new))


def claim_profile(entry: Entry, account: str, domains: tuple[str, ...] | None) -> Changes:
    """A profile (None: its tombstone) arrived for `account`, whose `a:` entry is `entry`."""
    old = entry.domains
    entry.account = None if domains is None else account
    entry.domains = domains or ()
    return _diff(old, entry.domains, domain_key)


def claim_roster(entry: Entry, contacts: tuple[str, ...]) -> Changes:
    """A roster (empty: its tombstone) arrived for the account whose `a:` entry is `entry`."""
    old = entry.contacts
    entry.contacts = contacts
    return _diff(old, contacts, contact_key)


def claim(entry: Entry, account: str) -> None:
    entry.account = account


def withdraw(entry: Entry, account: str) -> bool:
    """Stop the key naming `account`; whether the entry is now empty (to delete)."""
    if entry.account == account:
        entry.account = None
    return entry.account is None and not entry.domains and not entry.contacts and not entry.waiting


def keep(entry: Entry, event: Waiting, days: int, limit: int) -> None:
    """Keep an event of the domain until an account claims it: at most `limit`, none
    more than `days` older than the newest (the oldest leave first); each id once."""
    if any(w.event_id == event.event_id for w in entry.waiting):
        return
    entry.waiting.append(event)
    newest = max(w.at for w in entry.waiting)
    kept = sorted((w for w in entry.waiting if w.at >= newest - days * DAY_MS), key=_when)
    entry.waiting = kept[max(0, len(kept) - limit) :] if limit else []


def release(entry: Entry) -> list[Waiting]:
    """The events kept, now that an account claims the domain; the entry keeps none."""
    released, entry.waiting = entry.waiting, []
    return released


def _when(event: Waiting) -> tuple[int, str]:
    return event.at, event.event_id
