"""Driving real workers on an embedded stack: unique names, launch, send, read back.

Shared by the end-to-end tests and the reliability drill. Every pipeline gets its own app
id, topic names and Redis prefix, so runs sharing a stack cannot see each other's data.
"""

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from streams.clients.admin import ensure_topics
from streams.clients.kafka import client_options
from streams.clients.produce_tail import Keyed, owner_key, produce, read_topic
from streams.config import Settings, Topics
from streams.dev.embedded import EmbeddedStack, free_port
from streams.dev.supervise import ChildWorker, scrape, start_worker
from streams.sinks.kpi_view import read_report
from tests.history import Journey, ground_truth
from tests.kpi_compare import kpi_differences, without_alerts

__all__ = [
    "ARTIFACTS",
    "Worker",
    "abm",
    "collect",
    "launch",
    "metric_sum",
    "pipeline_settings",
    "read_all",
    "read_kpis",
    "read_metrics",
    "read_outputs",
    "redis_holds",
    "send",
    "send_rows",
    "view_decisions",
    "view_differences",
    "wait_until",
    "without_record_times",
]

_names = itertools.count()
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
ERASURE_KEY = "the-tests-erasure-key-of-32-bytes-or-more"


@dataclass
class Worker:
    settings: Settings
    env: dict[str, str]
    child: ChildWorker

    @property
    def log(self) -> Path:
        return self.child.log

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return self.child.stop(sig)


def abm(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, **kw
) -> subprocess.CompletedProcess[str]:
    """`abm ARGS` as a user runs it: a subprocess, with `env` added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def wait_until(check: Callable[[], object], timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def pipeline_settings(stack: EmbeddedStack, **overrides) -> tuple[Settings, dict[str, str]]:
    """Unique names for one test's pipeline on the shared stack, as settings and as env."""
    tag = f"t{os.getpid()}-{next(_names)}"
    topics = Topics(**{k: f"{tag}.{v}" for k, v in Topics().model_dump().items()})
    env = {
        **stack.env(),
        "ABM_APP_ID": f"abm-{tag}",
        "ABM_TOPICS": topics.model_dump_json(),
        "ABM_REDIS_PREFIX": f"{tag}:",
        "ABM_WEB_PORT": str(free_port()),
        "ABM_SESSION_TIMEOUT_S": "6",
        "ABM_HEARTBEAT_INTERVAL_S": "1",
        "ABM_TICK_INTERVAL_S": "0.5",
        "ABM_REDIS_FLUSH_INTERVAL_S": "0.2",
        "ABM_ERASURE_KEY": ERASURE_KEY,
        **{f"ABM_{k.upper()}": str(v) for k, v in overrides.items()},
    }
    settings = Settings(
        **{k: v for k, v in overrides.items() if "__" not in k},
        kafka_broker=env["ABM_KAFKA_BROKER"],
        redis_url=env["ABM_REDIS_URL"],
        app_id=env["ABM_APP_ID"],
        topics=topics,
        redis_prefix=env["ABM_REDIS_PREFIX"],
        web_port=int(env["ABM_WEB_PORT"]),
        fetch_max_wait_ms=int(env["ABM_FETCH_MAX_WAIT_MS"]),
    )
    asyncio.run(ensure_topics(settings))
    return settings, env


def launch(settings: Settings, env: dict[str, str], name: str, *, with_view: bool = True) -> Worker:
    """`abm worker --with-view` by default: the tests of what the worker decides read the
    view it writes itself (tests/e2e/test_view_process.py runs `abm view` beside one)."""
    child = start_worker(env, ARTIFACTS / f"{name}.log", with_view=with_view)
    child.wait_ready()
    return Worker(settings, env, child)


def send(settings: Settings, topic: str, *payloads: dict | bytes, key: str | None = None) -> None:
    records = []
    for payload in payloads:
        value = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        account = (
            key
            if key is not None
            else (payload.get("account_id") if isinstance(payload, dict) else None)
        )
        records.append(Keyed(account.encode() if account else None, value))
    asyncio.run(produce(settings, topic, records))


def collect(
    settings: Settings, topic: str, until: Callable[[list[dict]], bool], timeout: float = 30
) -> list[dict]:
    """Read `topic` from the beginning until `until(records)` holds (or fail at timeout)."""

    async def run() -> list[dict]:
        seen: list[dict] = []
        deadline = time.monotonic() + timeout
        async for _key, value in read_topic(
            settings, topic, from_beginning=True, timeout_s=timeout
        ):
            seen.append(orjson.loads(value))
            if until(seen) or time.monotonic() > deadline:
                break
        return seen

    records = asyncio.run(run())
    assert until(records), f"{topic}: condition not met; saw {records}"
    return records


def send_rows(settings: Settings, rows: list[tuple[str, dict]], copies: int = 1) -> None:
    """(topic kind, payload) rows in their order, keyed by owner, each `copies` times in a row."""

    async def run() -> None:
        producer = AIOKafkaProducer(**client_options(settings), linger_ms=20, acks="all")
        await producer.start()
        try:
            for kind, payload in rows:
                value = orjson.dumps(payload)
                for _ in range(copies):
                    topic = getattr(settings.topics, kind)
                    await producer.send(topic, value, key=owner_key(payload))
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(run())


def read_kpis(settings: Settings) -> dict:
    """The KPI report as `abm kpis --json` gives it, from the partials in Redis."""

    async def run() -> dict:
        client = AsyncRedis.from_url(settings.redis_url)
        try:
            return await read_report(client, settings, settings.rules)
        finally:
            await client.aclose()

    return asyncio.run(run())


def read_all(settings: Settings, topic: str, idle_s: float = 1.0) -> list[dict]:
    """Every record on `topic` so far: read from the beginning until `idle_s` passes quietly."""

    async def run() -> list[dict]:
        return [
            orjson.loads(value)
            async for _key, value in read_topic(
                settings, topic, from_beginning=True, timeout_s=idle_s
            )
        ]

    return asyncio.run(run())


def read_outputs(settings: Settings) -> tuple[dict, dict]:
    """Tier changes by (account, version) and alerts by id, so far; a repeat (an output
    re-sent after a crash) must be identical to its first copy."""
    changes: dict[tuple[str, int], dict] = {}
    for r in read_all(settings, settings.topics.tier_changes):
        assert changes.setdefault((r["account_id"], r["version"]), r) == r
    alerts: dict[str, dict] = {}
    for a in read_all(settings, settings.topics.surge_alerts):
        assert alerts.setdefault(a["alert_id"], a) == a
    return changes, alerts


def without_record_times(changes: dict) -> dict:
    """Tier changes with the time of an account's first one left out: a profile carries
    no event time, so that change is dated by the profile record's time, new each run."""
    return {
        k: {**c, "changed_at": None} if c["previous_tier"] == 0 else c for k, c in changes.items()
    }


def read_metrics(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The worker's /metrics as {(sample name, sorted labels): value}."""
    return scrape(settings.web_port)


def redis_holds(settings: Settings, text: str, match: str = "*") -> list[str]:
    """Every Redis key (of those `match` picks) whose name or content holds `text`."""
    redis, found = Redis.from_url(settings.redis_url, decode_responses=True), []
    for key in redis.scan_iter(match=match):
        kind = redis.type(key)
        if kind == "hash":
            content = str(redis.hgetall(key))
        elif kind == "stream":
            content = str(redis.xrange(key))
        elif kind == "zset":
            content = str(redis.zrange(key, 0, -1))
        elif kind == "string":
            content = str(redis.get(key))
        else:
            content = str(kind)
        if text in key or text in content:
            found.append(key)
    return found


def metric_sum(metrics: dict, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    return sum(v for (n, ls), v in metrics.items() if n == name and set(labels.items()) <= set(ls))


def view_decisions(
    settings: Settings, accounts: list[str]
) -> tuple[dict[str, int], dict[str, Journey]]:
    """What the rules decided for `accounts`, as the view shows it: tiers, and journey
    stages with the steps reached (an account missing from the view is left out)."""
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    pipe = redis.pipeline()
    for account in accounts:
        pipe.hmget(f"{settings.redis_prefix}account:{account}", "tier", "stage", "reached")
    tiers, journeys = {}, {}
    for account, (tier, stage, reached) in zip(accounts, pipe.execute(), strict=True):
        if tier is None:
            continue
        tiers[account] = int(tier)
        steps = (step.rpartition(":") for step in (reached or "").split(",") if step)
        journeys[account] = (stage, {name: int(at) for name, _, at in steps})
    return tiers, journeys


def view_differences(settings: Settings, rows: list[tuple[str, dict]]) -> list[str]:
    """The KPIs in Redis against the independent ground truth of `rows` (the tiers and
    stages, which the rules decide, are taken from the view); empty when they agree.
    Without the alerts' figures: `rows` are sent all at once, and what follows an alert
    depends on how its account's topics interleave (tests/e2e/test_e2e_kpis.py feeds
    rounds to compare those exactly)."""
    accounts = sorted({p["account_id"] for _, p in rows if p.get("account_id")})
    tiers, journeys = view_decisions(settings, accounts)
    if missing := [a for a in accounts if a not in tiers]:
        return [f"{missing[0]} missing from the view"]
    truth = ground_truth(rows, tiers, settings.rules, journeys, alerts=[])
    return kpi_differences(without_alerts(read_kpis(settings)), without_alerts(truth))


class RouteReceiver:
    """A route's receiver on a free loopback port: notes the X-ABM-Alert-Id of every POST,
    after `delay_s`, and holds each request until `release` is set (set by default)."""

    def __init__(self, delay_s: float = 0.0, held: bool = False) -> None:
        self.ids: list[str] = []
        self.release = threading.Event()
        if not held:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                receiver.ids.append(self.headers["X-ABM-Alert-Id"])
                receiver.release.wait(60)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
