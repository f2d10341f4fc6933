"""No email address goes further than the first function that reads it.

A Segment call names people by address in many places: `traits.email`, `userId` (many
sites use the address as the user id), a form's properties, a page URL's query string.
`redact` walks the whole call once and leaves no address in it: a field named `email`
becomes `email_domain` (what matching needs) and `email_contact`, a keyed hash of the
address (what a roster can list and `abm forget --email` can find); an id that is an
address becomes that hash; an address anywhere else is blanked. Without an identity key
no hash is made: the domain still matches, but that person cannot be told from their
colleagues, nor erased by address.
"""

import hashlib
import hmac
import re
from typing import Any

from streams.logic.identity.domains import email_domain

__all__ = [
    "ADDRESS",
    "BLANK",
    "EMAIL_CONTACT",
    "MAX_DEPTH",
    "BadCall",
    "blank",
    "contact_of",
    "redact",
]

ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
"""An email address, also URL-encoded (`jo%40acme.com` in a query string)."""
MAX_DEPTH = 32
"""How deeply a call's objects and arrays may nest: Segment's are a few levels deep, and
a walk must not be made to recurse without bound."""
BLANK = "[email]"
EMAIL_CONTACT = "e:"
"""How a contact id made from an address begins."""
_ADDRESS_BYTES = re.compile(ADDRESS.pattern.encode())
ID_FIELDS = ("userId", "anonymousId", "previousId")


class BadCall(ValueError):
    """The call is not one we can read; the message says which field and why."""


def contact_of(address: str, key: bytes) -> str:
    """The contact id an address becomes: `e:` and the first 128 bits (hex) of its
    HMAC-SHA256 under the identity key, case and spaces ignored."""
    normal = address.strip().lower().replace("%40", "@")
    return EMAIL_CONTACT + hmac.new(key, normal.encode(), hashlib.sha256).hexdigest()[:32]


def _whole(text: str) -> bool:
    return ADDRESS.fullmatch(text.strip()) is not None


def _walk(value: Any, key: bytes | None, depth: int = 0) -> Any:
    if isinstance(value, str):
        return ADDRESS.sub(BLANK, value) if "@" in value or "%40" in value else value
    if not isinstance(value, list | dict):
        return value
    if depth >= MAX_DEPTH:
        raise BadCall(f"objects and arrays nest deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [_walk(item, key, depth + 1) for item in value]
    out: dict[str, Any] = {}
    for name, item in value.items():
        if name.lower() == "email" and isinstance(item, str) and _whole(item):
            address = item.replace("%40", "@")
            if (domain := email_domain(address)) is not None:
                out["email_domain"] = domain
            if key is not None:
                out["email_contact"] = contact_of(address, key)
            continue
        out[name] = _walk(item, key, depth + 1)
    return out


def redact(call: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """The call with every address replaced (see the module's docstring); a copy, and
    idempotent: redacting a redacted call changes nothing. BadCall when it nests deeper
    than MAX_DEPTH."""
    out: dict[str, Any] = _walk(call, key)
    for name in ID_FIELDS:
        person = call.get(name)
        if isinstance(person, str) and _whole(person):
            if key is None:
                del out[name]
            else:
                out[name] = contact_of(person, key)
    return out


def blank(raw: bytes) -> bytes:
    """A record's bytes with every address blanked, for the one that cannot be read as a
    call (a dead letter keeps the rest, to be fixed and sent again)."""
    return _ADDRESS_BYTES.sub(BLANK.encode(), raw)
