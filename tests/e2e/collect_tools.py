"""`abm collect` as a child process on the embedded stack, and what it wrote, read back.

Shared by the collector's end-to-end tests (the HTTP behaviour, the Segment Python SDK,
analytics.js in a browser). Each collector gets its own pipeline names (harness
`pipeline_settings`), so its topic holds only what its test sent.
"""

import asyncio
import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from streams.child_processes import die_with_parent
from streams.clients.produce_tail import read_topic
from streams.config import Settings
from streams.dev.embedded import EmbeddedStack, free_port
from streams.logic.identity.redact import ADDRESS
from tests.harness import ARTIFACTS, pipeline_settings, wait_until

__all__ = [
    "IDENTITY_KEY",
    "SERVER_KEY",
    "SITE_KEY",
    "Collector",
    "Reply",
    "running",
    "start_collector",
]

SITE_KEY = "wk-site-0123456789"
SERVER_KEY = "wk-server-9876543210"
IDENTITY_KEY = "the-identity-key-of-the-collect-tests"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return orjson.loads(self.body)


@dataclass
class Collector:
    settings: Settings
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    stopped: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def post(self, path: str, payload: object, headers: dict | None = None) -> Reply:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return self.request("POST", path, body, headers)

    def records(self, idle_s: float = 1.0) -> list[tuple[bytes, dict]]:
        """Every (key, call) on the collector's topic so far."""

        return [(key, orjson.loads(value)) for key, value in self.raw_records(idle_s)]

    def raw_records(self, idle_s: float = 1.0) -> list[tuple[bytes, bytes]]:
        async def run() -> list[tuple[bytes, bytes]]:
            return [
                (key or b"", value)
                async for key, value in read_topic(
                    self.settings,
                    self.settings.topics.segment,
                    from_beginning=True,
                    timeout_s=idle_s,
                )
            ]

        return asyncio.run(run())

    def wait_for(self, count: int, timeout: float = 30) -> list[tuple[bytes, dict]]:
        """The topic's records once it holds at least `count`."""
        return wait_until(
            lambda: found if len(found := self.records(0.5)) >= count else None,
            timeout,
            f"{count} records on {self.settings.topics.segment}",
            step=0.2,
        )

    def addresses_written(self) -> list[str]:
        """Every email address in any key or value on the topic: there must be none."""
        return [
            match.group(0)
            for key, value in self.raw_records()
            for text in (key.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
            for match in ADDRESS.finditer(text)
        ]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def start_collector(
    stack: EmbeddedStack,
    name: str,
    pipeline: tuple[Settings, dict[str, str]] | None = None,
    **env: str,
) -> Collector:
    """`abm collect` with two write keys and an identity key (and `env` on top), once it
    says it serves; on a pipeline of its own, or on `pipeline` (a worker's settings and
    environment)."""
    settings, base = pipeline or pipeline_settings(stack)
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams", "collect", "--port", str(port)],
        env={
            **os.environ,
            **base,
            "ABM_COLLECT_WRITE_KEYS": f"{SITE_KEY}, {SERVER_KEY}",
            "ABM_IDENTITY_KEY": IDENTITY_KEY,
            **env,
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    collector = Collector(settings, proc, port, log)

    def serving() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"abm collect exited {proc.returncode}:\n{collector.log_text()}")
        return "collecting Segment calls at" in log.read_text(errors="replace")

    wait_until(serving, 60, "abm collect to serve")
    return collector


def running(collector: Collector) -> Iterator[Collector]:
    """A fixture's body: the collector, then a clean stop (SIGTERM, exit 0)."""
    try:
        yield collector
    finally:
        code = collector.stop()
        assert code == 0, collector.log_text()
