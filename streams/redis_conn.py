"""Redis clients from settings, with the password and TLS CA kept out of the URL."""

from typing import Any

import redis
import redis.asyncio

from streams.config import Settings

__all__ = ["async_redis", "sync_redis"]


def _options(settings: Settings, overrides: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.redis_username:
        options["username"] = settings.redis_username
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.redis_ca_file)
    return options | overrides


def async_redis(settings: Settings, **overrides: Any) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(settings.redis_url, **_options(settings, overrides))


def sync_redis(settings: Settings, **overrides: Any) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, **_options(settings, overrides))
