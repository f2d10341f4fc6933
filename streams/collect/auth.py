"""Which write key a request carries, and whether it is one of ABM_COLLECT_WRITE_KEYS.

Segment's libraries send the key in one of two places: server SDKs as HTTP Basic (the
key as user name, no password); analytics.js in the JSON body as `writeKey` (its recent
versions also as Basic). A key in the header is the one that counts when both are sent,
so a bad header is not rescued by a good body. Keys are compared in constant time, and
against every configured key, so neither the time taken nor which key matched leaks how
close a guess came.
"""

import base64
import binascii
import hmac
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

__all__ = ["WriteKeys", "basic_user", "body_key"]


def basic_user(authorization: str | None) -> str | None:
    """The user name of `Authorization: Basic ...`, or None when there is none."""
    if authorization is None:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def body_key(payload: Any) -> str | None:
    """`writeKey` of a JSON body (a call or a batch), or None."""
    if isinstance(payload, dict) and isinstance(key := payload.get("writeKey"), str):
        return key or None
    return None


class WriteKeys:
    """The accepted keys; `accepts` answers in time independent of the key tried."""

    def __init__(self, keys: Iterable[SecretStr]) -> None:
        self._keys = [key.get_secret_value().encode() for key in keys]
        if not self._keys:
            raise ValueError(
                "no write key is configured: set ABM_COLLECT_WRITE_KEYS (comma-separated) "
                "to the keys your sources send, or every call would be refused"
            )

    def accepts(self, key: str | None) -> bool:
        if key is None:
            return False
        tried = key.encode()
        matched = False
        for known in self._keys:
            matched |= hmac.compare_digest(tried, known)
        return matched
