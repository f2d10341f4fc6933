"""Redis auth against a real redis-server that requires a password (the settings alone:
unit/test_security.py)."""

import subprocess

import pytest
import redis

from streams.clients.redis import sync_redis
from streams.config import load_settings
from streams.dev.embedded import _redis_binary, free_port, wait_for_port

SECRET = "correct-horse-battery-staple"


def test_redis_auth_against_a_real_server_that_requires_it(monkeypatch):
    port = free_port()
    server = subprocess.Popen(
        [
            _redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--requirepass",
            SECRET,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server, "redis-server", 10)
        monkeypatch.setenv("ABM_REDIS_URL", f"redis://127.0.0.1:{port}/0")
        with pytest.raises(redis.AuthenticationError):
            sync_redis(load_settings()).ping()
        monkeypatch.setenv("ABM_REDIS_PASSWORD", SECRET)
        assert sync_redis(load_settings()).ping()
    finally:
        server.terminate()
        server.wait(10)
