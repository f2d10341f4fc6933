"""A request's body, read within Segment's limits and parsed as JSON.

The limits are Segment's own (32 KB a call, 500 KB a batch), so that whatever Segment
accepts is accepted here and an SDK's own size checks (the Python SDK's 32 KiB per call,
475,000 bytes per batch) keep its batches under them. `Content-Length` is checked before
anything is read, and the read itself stops at the limit: a client that lies about the
length, or sends chunks without one, cannot make the server hold more than the limit.
aiohttp inflates a gzip body (the Python SDK's `gzip=True`) as it is read, so the limit
is on the inflated bytes, and a small bomb cannot expand past it either.
"""

from typing import Any

import orjson
from aiohttp import web

__all__ = ["BATCH_MAX_BYTES", "CALL_MAX_BYTES", "Refused", "parse", "read_capped"]

CALL_MAX_BYTES = 32 * 1024
"""The largest call, alone or in a batch."""
BATCH_MAX_BYTES = 500 * 1024
"""The largest batch request."""


class Refused(Exception):
    """A request refused whole: the status, a code and a message (the Python SDK logs
    both), and for a batch every call refused, by index."""

    def __init__(
        self, status: int, code: str, message: str, refused: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.refused = refused


def too_large(limit: int) -> Refused:
    return Refused(413, "too_large", f"the body is over {limit} bytes, Segment's limit here")


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The whole body, or Refused(413) as soon as it passes `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse(body: bytes) -> Any:
    """The body's JSON, or Refused(400) saying where it stops being JSON (never echoing
    the body: it may hold addresses)."""
    if not body.strip():
        raise Refused(400, "invalid_json", "the body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "invalid_json", f"the body is not JSON: {exc}") from None
