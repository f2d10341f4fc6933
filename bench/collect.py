"""`abm collect`'s throughput and latency, on the embedded stack.

One collector process (the command itself, a child process) in front of the embedded
broker; a few concurrent clients (aiohttp sessions in this process) POST batches of
realistic calls to /v1/batch, as Segment's server SDKs do: a mix of page, track and
identify calls from many people, a tenth of them carrying an email address (which the
collector must hash away), about 700 bytes each. The bodies are serialized once, before
the clock starts, so the clients cost little of the machine's two cores.

Two figures per run, each run on a fresh topic:

- accepted calls per second: every client sends as fast as its answers come back, for
  `--seconds`; only calls answered 200 (acknowledged by the broker) count;
- request latency (p50, p99) at half that rate: the clients pace their batches so the
  calls arrive at half the measured rate, for `--seconds`.

    python -m bench.collect [--runs 3] [--seconds 10] [--clients 4] [--batch 100]

Prints each run and the medians (and `--json FILE` writes them). Bounded: every phase
stops after `--seconds`, and each request after 30 s.
"""

import asyncio
import base64
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import click
import orjson

from streams.child_processes import die_with_parent
from streams.clients.admin import ensure_topics
from streams.config import Settings, Topics
from streams.dev.embedded import EmbeddedStack, free_port

WRITE_KEY = "bench-write-key"
IDENTITY_KEY = "bench-identity-key-of-at-least-32-bytes"
ARTIFACTS = Path("bench-artifacts")
BODIES = 64
"""Distinct batch bodies, cycled through (their calls' messageIds repeat across cycles:
the collector does not look at them)."""


def _call(rng: random.Random) -> dict:
    person = rng.randrange(50_000)
    company = f"company{person % 2_000}.com"
    kind = rng.choices(["page", "track", "identify"], weights=[70, 25, 5])[0]
    call: dict = {
        "type": kind,
        "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
        "anonymousId": f"anon-{person}",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "context": {
            "library": {"name": "analytics-python", "version": "2.4.0"},
            "ip": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120",
            "page": {"path": "/pricing", "url": f"https://www.example.com/pricing?p={person}"},
            "campaign": {"name": "Spring Launch", "source": "linkedin", "medium": "paid"},
        },
        "integrations": {},
    }
    if rng.random() < 0.6:
        call["userId"] = f"user-{person}"
    if kind == "page":
        call |= {"name": "Pricing", "properties": {"title": "Pricing", "duration": 42}}
    elif kind == "track":
        event = rng.choice(["Form Submitted", "Content Downloaded", "Button Clicked"])
        call |= {"event": event, "properties": {"form": "demo-request", "plan": "enterprise"}}
    else:
        call["traits"] = {"name": f"Person {person}", "title": "VP Marketing"}
    if rng.random() < 0.1:
        call.setdefault("traits", {})["email"] = f"person{person}@{company}"
    return call


def bodies(batch: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    sent_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    return [
        orjson.dumps({"batch": [_call(rng) for _ in range(batch)], "sentAt": sent_at})
        for _ in range(BODIES)
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    payloads: list[bytes],
    batch: int,
    until: float,
    interval_s: float,
    offset: int,
    clients: int,
    latencies: list[float],
    statuses: dict[int, int],
) -> int:
    """Send batches until `until` (paced every `interval_s`, the clients' starts spread
    over one interval so their batches do not arrive together; or back to back at 0);
    return the calls accepted."""
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode(),
        "Content-Type": "application/json",
    }
    accepted = 0
    next_at = time.monotonic() + interval_s * offset / clients
    n = offset
    while (now := time.monotonic()) < until:
        if interval_s and now < next_at:
            await asyncio.sleep(next_at - now)
        next_at += interval_s
        started = time.monotonic()
        async with session.post(url, data=payloads[n % len(payloads)], headers=headers) as reply:
            await reply.read()
            statuses[reply.status] = statuses.get(reply.status, 0) + 1
            if reply.status == 200:
                accepted += batch
        latencies.append(time.monotonic() - started)
        n += 1
    return accepted


async def phase(
    url: str, payloads: list[bytes], batch: int, clients: int, seconds: float, rate: float
) -> dict:
    """Load for `seconds`: back to back (rate 0) or at `rate` calls/s over all clients."""
    interval = 0.0 if rate == 0 else clients * batch / rate
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.monotonic()
        until = started + seconds
        accepted = await asyncio.gather(
            *(
                _client(
                    session, url, payloads, batch, until, interval, i, clients, latencies, statuses
                )
                for i in range(clients)
            )
        )
        elapsed = time.monotonic() - started
    return {
        "calls_per_s": round(sum(accepted) / elapsed),
        "requests": len(latencies),
        "statuses": statuses,
        "p50_ms": round(_percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
    }


def _collector(stack: EmbeddedStack, settings: Settings, run: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    env = {
        **os.environ,
        **stack.env(),
        "ABM_TOPICS": settings.topics.model_dump_json(),
        "ABM_COLLECT_WRITE_KEYS": WRITE_KEY,
        "ABM_IDENTITY_KEY": IDENTITY_KEY,
    }
    log = (ARTIFACTS / f"collect-{run}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams", "collect", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 60
    while b"collecting Segment calls" not in (ARTIFACTS / f"collect-{run}.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise click.ClickException(f"abm collect did not start: see {log.name}")
        time.sleep(0.1)
    return proc, port


@click.command()
@click.option("--runs", default=3, show_default=True, help="runs, each on a fresh topic")
@click.option("--seconds", default=10.0, show_default=True, help="length of each phase")
@click.option("--clients", default=4, show_default=True, help="concurrent client sessions")
@click.option("--batch", default=100, show_default=True, help="calls per request")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="also write figures")
def main(runs: int, seconds: float, clients: int, batch: int, json_out: Path | None) -> None:
    payloads = bodies(batch)
    size = statistics.mean(len(p) for p in payloads) / batch
    click.echo(f"{clients} clients, batches of {batch} calls of ~{size:.0f} bytes")
    results = []
    with EmbeddedStack() as stack:
        for run in range(runs):
            topics = Topics(segment=f"bench-collect-{run}.abm.segment.v1")
            settings = stack.settings(topics=topics)
            asyncio.run(ensure_topics(settings, [topics.segment]))
            proc, port = _collector(stack, settings, run)
            url = f"http://127.0.0.1:{port}/v1/batch"
            try:
                most = asyncio.run(phase(url, payloads, batch, clients, seconds, 0))
                half = asyncio.run(
                    phase(url, payloads, batch, clients, seconds, most["calls_per_s"] / 2)
                )
            finally:
                proc.terminate()
                proc.wait(30)
            results.append({"throughput": most, "half_rate": half})
            click.echo(
                f"run {run + 1}: {most['calls_per_s']:,} calls/s accepted "
                f"(statuses {most['statuses']}); at {half['calls_per_s']:,}/s: "
                f"p50 {half['p50_ms']} ms, p99 {half['p99_ms']} ms (statuses {half['statuses']})"
            )
    figures = {
        "clients": clients,
        "batch": batch,
        "call_bytes": round(size),
        "calls_per_s": statistics.median(r["throughput"]["calls_per_s"] for r in results),
        "p99_ms_at_half_rate": statistics.median(r["half_rate"]["p99_ms"] for r in results),
        "p50_ms_at_half_rate": statistics.median(r["half_rate"]["p50_ms"] for r in results),
        "runs": results,
    }
    click.echo(
        f"median of {runs}: {figures['calls_per_s']:,} calls/s accepted; at half that rate "
        f"p50 {figures['p50_ms_at_half_rate']} ms, p99 {figures['p99_ms_at_half_rate']} ms"
    )
    if json_out:
        json_out.write_bytes(
            orjson.dumps(figures, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        )


if __name__ == "__main__":
    main()
