"""Which account an event belongs to, from the clues it carries, tried in a fixed order.

The order is strongest evidence first, and the first clue that names a known account
wins: an account id the sender gave; a contact the CRM's roster places at an account; a
Segment `group` call (its id an account id, or its website's domain an account's); then
the domain of the person's email, or a company domain a reverse-IP provider gave, against
the accounts' domains. A domain that is a free-mail provider's never matches (it names
the person's mailbox, not their employer). What matched is carried on the result, so a
report can say how much engagement each method brought; an event that matches nothing
says why, and which domain (never an address) it carried.

Pure: each lookup is a function the caller gives (a table in the worker, a dict in a test
or a replay), so the order is tested against a plain model without a broker.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from streams.logic.identity.domains import is_free_mail

__all__ = ["Clues", "Matched", "Method", "Unmatched", "Why", "match"]

Lookup = Callable[[str], str | None]
"""A key (an account id, a contact, a domain) -> the account it is known to be, or None."""


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Clues:
    """What an event says of who sent it; every clue optional. Domains are registrable
    domains already (domains.py)."""

    account_id: str | None = None
    contact_id: str | None = None
    group_id: str | None = None
    group_domain: str | None = None
    email_domain: str | None = None
    company_domain: str | None = None


@dataclass(frozen=True, slots=True)
class Matched:
    account_id: str
    method: Method


@dataclass(frozen=True, slots=True)
class Unmatched:
    why: Why
    domain: str | None = None
    """The business domain it carried (for `abm unmatched`); None for free mail."""


def match(clues: Clues, account: Lookup, contact: Lookup, domain: Lookup) -> Matched | Unmatched:
    """The account the clues name, by the first method that finds one. An account id the
    sender gave is taken as it is (as events with one always were); `account` says
    whether a group id is a known account, `contact` where a contact works, and `domain`
    whose a registrable domain is."""
    if clues.account_id is not None:
        return Matched(clues.account_id, Method.ACCOUNT_ID)
    if clues.contact_id is not None and (found := contact(clues.contact_id)) is not None:
        return Matched(found, Method.CONTACT)
    if clues.group_id is not None and (found := account(clues.group_id)) is not None:
        return Matched(found, Method.GROUP)
    business, free = None, False
    for candidate, method in (
        (clues.group_domain, Method.GROUP),
        (clues.email_domain, Method.DOMAIN),
        (clues.company_domain, Method.DOMAIN),
    ):
        if candidate is None:
            continue
        if is_free_mail(candidate):
            free = True
        elif (found := domain(candidate)) is not None:
            return Matched(found, method)
        elif business is None:
            business = candidate
    if business is not None:
        return Unmatched(Why.UNKNOWN_DOMAIN, business)
    return Unmatched(Why.FREE_MAIL if free else Why.NO_IDENTITY)
