"""Redis clients from settings, with the password and TLS CA kept out of the URL.

The asyncio client packs commands in Python (redis-py's sync client packs with hiredis
when it is installed, the asyncio one does not): ~35 us for a 20-field HSET, the largest
single cost of the worker's Redis view. Its connections here pack with hiredis (~3.5 us,
the same bytes: tests/unit/test_redis_conn.py); hiredis also parses the replies.
"""

from collections.abc import Mapping
from typing import Any, cast

import hiredis
import redis
import redis.asyncio
from redis.asyncio.connection import AbstractConnection
from redis.typing import EncodableT, FieldT

from streams.config import Settings

__all__ = ["HashFields", "StreamEntry", "async_redis", "stream_entries", "sync_redis"]

StreamEntry = tuple[bytes, dict[bytes, bytes]]
"""A stream entry as our clients read it: they never decode replies, so id and fields are
bytes (redis-py's types allow str and None for clients that do)."""

HashFields = Mapping[FieldT, EncodableT]
"""What HSET takes: redis-py spells the key type as a union, and a Mapping's key type is
invariant, so our `dict[str, str]` hashes are cast to it where they are written."""


def _options(settings: Settings, overrides: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.redis_username:
        options["username"] = settings.redis_username
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.redis_ca_file)
    return options | overrides


class _HiredisPacking:
    """Mixed into whichever connection class the URL chose (TCP, TLS, unix socket)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        command = args[0]
        if (isinstance(command, str) and " " in command) or (
            isinstance(command, bytes) and b" " in command
        ):
            args = (*command.split(), *args[1:])  # 'CONFIG GET' goes as two arguments
        return [hiredis.pack_command(args)]


_packing: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _hiredis_packing(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    if cls not in _packing:
        _packing[cls] = type(f"Hiredis{cls.__name__}", (_HiredisPacking, cls), {})
    return _packing[cls]


def async_redis(settings: Settings, **overrides: Any) -> redis.asyncio.Redis:
    client = redis.asyncio.Redis.from_url(settings.redis_url, **_options(settings, overrides))
    pool = client.connection_pool
    pool.connection_class = _hiredis_packing(pool.connection_class)
    return client


def sync_redis(settings: Settings, **overrides: Any) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, **_options(settings, overrides))


async def stream_entries(
    redis: redis.asyncio.Redis, stream: str, *, newest_first: bool = False, count: int | None = None
) -> list[StreamEntry]:
    """A capped stream's entries (oldest first, or newest first)."""
    read = redis.xrevrange if newest_first else redis.xrange
    return cast(list[StreamEntry], await read(stream, count=count))
