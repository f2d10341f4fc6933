"""A worker (or a view process) as a child process: started, waited for (readiness, not
sleeps), and stopped."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from streams.child_processes import die_with_parent

__all__ = [
    "ChildWorker",
    "is_ready",
    "processed_records",
    "scrape",
    "start_view",
    "start_worker",
    "wait_for_stop",
]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A worker's /metrics as {(sample name, sorted labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def processed_records(port: int) -> float:
    """Input records the worker has finished with (applied, duplicate or dead-lettered)."""
    return sum(v for (name, _), v in scrape(port).items() if name == "abm_events_total")


def is_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
            return bool(orjson.loads(response.read())["ready"])
    except OSError:
        return False


@dataclass
class ChildWorker:
    proc: subprocess.Popen[bytes]
    log: Path
    web_port: int

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds until /ready said yes; raises with the log's tail if the worker died."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{tail}")
            if is_ready(self.web_port):
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready within {timeout:.0f}s (log: {self.log})")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_worker(env: dict[str, str], log: Path, *, with_view: bool) -> ChildWorker:
    """`abm worker` with `env` added to ours; it dies with us even on kill -9. Without
    `with_view` it writes only Kafka, and Redis needs `start_view`."""
    command = ["worker", "--with-view"] if with_view else ["worker"]
    return _start(command, env, log, int(env["ABM_WEB_PORT"]))


def start_view(env: dict[str, str], log: Path) -> ChildWorker:
    """`abm view` the same way (ready once it has read every changelog to its end)."""
    return _start(["view"], env, log, int(env["ABM_VIEW_PORT"]))


def _start(command: list[str], env: dict[str, str], log: Path, port: int) -> ChildWorker:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams", *command],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
    return ChildWorker(proc, log, port)


def wait_for_stop(alive: Callable[[], bool]) -> None:
    """Block until Ctrl-C, SIGTERM, or `alive()` turning false (a child died).

    SIGINT gets a handler of its own: a process started in the background by a
    non-interactive shell inherits SIGINT ignored, and would otherwise never stop.
    """
    stop: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(1))
    while not stop and alive():
        time.sleep(0.2)
