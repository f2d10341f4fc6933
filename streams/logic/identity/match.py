"""Which account an event belongs to, from the clues it carries, tried in a fixed order.

The order is strongest evidence first, and the first clue that names a known account
wins: an account id the sender gave; a contact the CRM's roster places at an account; a
Segment `group` call (its id an account id, or its website's domain an account's); then
the domain of the person's email, or a company domain a reverse-IP provider gave, against
the accounts' domains. A domain that is a free-mail provider's never matches (it names
the person's mailbox, not their employer). What matched is carried on the result, so a
report can say how much engagement each method brought; an event that matches nothing
says why, and which domain (never an address) it carried.

The order is a `Plan`: the directory keys to try, in order, and what the event is when
none names an account. The worker walks it across partitions (each key is looked up on
the partition that owns it, identity/directory.py); `match` walks it against one lookup,
for a test or a replay. Pure: no broker, no table.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from streams.logic.identity.domains import is_free_mail

__all__ = [
    "Candidate",
    "Clues",
    "Matched",
    "Method",
    "Plan",
    "Unmatched",
    "Why",
    "account_key",
    "contact_key",
    "domain_key",
    "match",
    "plan",
]

Lookup = Callable[[str], str | None]
"""A directory key -> the account it is known to be, or None."""


class Method(StrEnum):
    """How an event was matched, strongest first."""

    ACCOUNT_ID = "account_id"
    CONTACT = "contact"
    GROUP = "group"
    DOMAIN = "domain"


class Why(StrEnum):
    """Why an event matched no account."""

    FREE_MAIL = "free_mail"
    UNKNOWN_DOMAIN = "unknown_domain"
    NO_IDENTITY = "no_identity"


def account_key(account_id: str) -> str:
    return f"a:{account_id}"


def contact_key(contact_id: str) -> str:
    return f"c:{contact_id}"


def domain_key(domain: str) -> str:
    return f"d:{domain}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Clues:
    """What is known of who sent an event; every clue optional. Domains are registrable
    domains already (domains.py); contacts are ids a roster may list (a CRM id, or the
    keyed hash an email address becomes), most specific first."""

    account_id: str | None = None
    contacts: tuple[str, ...] = ()
    group_id: str | None = None
    group_domain: str | None = None
    email_domain: str | None = None
    company_domain: str | None = None

    def __bool__(self) -> bool:
        return any(
            (
                self.account_id,
                self.contacts,
                self.group_id,
                self.group_domain,
                self.email_domain,
                self.company_domain,
            )
        )

    def over(self, older: "Clues") -> "Clues":
        """These clues, each missing one taken from `older` (what was known before)."""
        return Clues(
            account_id=self.account_id or older.account_id,
            contacts=tuple(dict.fromkeys((*self.contacts, *older.contacts))),
            group_id=self.group_id or older.group_id,
            group_domain=self.group_domain or older.group_domain,
            email_domain=self.email_domain or older.email_domain,
            company_domain=self.company_domain or older.company_domain,
        )


@dataclass(frozen=True, slots=True)
class Matched:
    account_id: str
    method: Method


@dataclass(frozen=True, slots=True)
class Unmatched:
    why: Why
    domain: str | None = None
    """The business domain it carried (for `abm unmatched`); None for free mail."""


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str
    """The directory key to look up: `a:` an account id, `c:` a contact, `d:` a domain."""
    method: Method


@dataclass(frozen=True, slots=True)
class Plan:
    """How to match one event: its own account id, else the first candidate the
    directory knows, else `otherwise`."""

    direct: str | None
    candidates: tuple[Candidate, ...]
    otherwise: Unmatched


def plan(clues: Clues) -> Plan:
    """The candidates the clues give, in the order they are tried. Free-mail domains are
    left out: they never match."""
    candidates = [Candidate(contact_key(c), Method.CONTACT) for c in clues.contacts]
    if clues.group_id is not None:
        candidates.append(Candidate(account_key(clues.group_id), Method.GROUP))
    business, free = None, False
    for domain, method in (
        (clues.group_domain, Method.GROUP),
        (clues.email_domain, Method.DOMAIN),
        (clues.company_domain, Method.DOMAIN),
    ):
        if domain is None:
            continue
        if is_free_mail(domain):
            free = True
            continue
        candidates.append(Candidate(domain_key(domain), method))
        business = business or domain
    if business is not None:
        otherwise = Unmatched(Why.UNKNOWN_DOMAIN, business)
    else:
        otherwise = Unmatched(Why.FREE_MAIL if free else Why.NO_IDENTITY)
    return Plan(clues.account_id, tuple(dict.fromkeys(candidates)), otherwise)


def match(clues: Clues, directory: Lookup) -> Matched | Unmatched:
    """The account the clues name, by the first method that finds one. An account id the
    sender gave is taken as it is (as events with one always were)."""
    steps = plan(clues)
    if steps.direct is not None:
        return Matched(steps.direct, Method.ACCOUNT_ID)
    for candidate in steps.candidates:
        if (found := directory(candidate.key)) is not None:
            return Matched(found, candidate.method)
    return steps.otherwise
