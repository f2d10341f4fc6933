"""`make bench-rocksdb`: account state at scale in RocksDB: memory, and recovery time.

For each size (default 100,000 and 1,000,000 accounts) the accounts table's changelog is
filled directly with one realistic state record per account (a profile, two weeks of
engagement from several contacts, intent on two topics, an open deal: built once by the
live functions, then stamped per account), keyed and partitioned as the worker would.
Then a worker with `ABM_STORE=rocksdb://` starts on an empty data directory and recovers
all of it from the changelog: the time to /ready, its RSS once ready and its peak. Then it
restarts on the same data directory (RocksDB already holds the state: nothing to read).
Every account's state is checked to be served by the worker's /accounts page on a sample.

    python -m bench.rocksdb_scale [--sizes 100000,1000000]
"""

import asyncio
import tempfile
import time
import urllib.request
from pathlib import Path

import click
import orjson
from aiokafka import AIOKafkaProducer

from bench.harness import memory_mib
from bench.worker import worker_env
from schemas.inputs import AccountProfile, DealEvent, EngagementEvent, IntentEvent
from streams.clients.admin import ensure_topics
from streams.clients.kafka import client_options
from streams.config import Settings, Topics
from streams.dev.embedded import EmbeddedStack
from streams.dev.supervise import start_worker
from streams.logic.inputs.apply import apply_event
from streams.logic.inputs.decode import Coords, Event
from streams.logic.rules import Rules
from streams.logic.state.state import AccountState

DAY_MS = 86_400_000
TEMPLATE = "acct-template"
RESULTS = Path("bench/rocksdb_scale.json")


def template_state(now: int) -> bytes:
    """One account's state after a realistic few weeks, by the live functions."""
    rules, state = Rules(), None
    rows: list[tuple[type[Event], dict[str, object]]] = [
        (
            AccountProfile,
            {
                "account_id": TEMPLATE,
                "name": "Template Inc",
                "industry": "software",
                "employees": 400,
                "expected_acv": 60_000,
            },
        ),
    ]
    for n in range(40):
        rows.append(
            (
                EngagementEvent,
                {
                    "event_id": f"e{n}",
                    "account_id": TEMPLATE,
                    "occurred_at": now - (14 - n // 3) * DAY_MS,
                    "contact_id": f"c{n % 5}",
                    "channel": "web",
                    "action": "page_view",
                },
            )
        )
    for n, topic in enumerate(["crm", "analytics"]):
        rows.append(
            (
                IntentEvent,
                {
                    "event_id": f"i{n}",
                    "account_id": TEMPLATE,
                    "occurred_at": now - DAY_MS,
                    "provider": "bench",
                    "topic": topic,
                    "score": 70,
                },
            )
        )
    rows.append(
        (
            DealEvent,
            {
                "event_id": "d0",
                "account_id": TEMPLATE,
                "occurred_at": now - DAY_MS,
                "opportunity_id": "o1",
                "stage": "proposal",
                "amount": 60_000,
                "deal_type": "new",
            },
        )
    )
    events = [model.model_validate_json(orjson.dumps(payload)) for model, payload in rows]
    for offset, event in enumerate(events):
        state = apply_event(state, event, Coords("t", 0, offset, now), rules, now).state
    assert isinstance(state, AccountState)
    state.outbox = []
    return state.to_json()


async def fill_changelog(settings: Settings, app_id: str, accounts: int) -> float:
    """Write one state record per account to the table's changelog, keyed as faust keys the
    table (JSON strings); return seconds."""
    record = template_state(int(time.time() * 1000))
    topic = f"{app_id}-accounts-changelog"
    await ensure_topics(settings, [topic])
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=20, max_batch_size=262_144)
    await producer.start()
    started = time.monotonic()
    try:
        for n in range(accounts):
            name = f"acct-{n:07d}"
            await producer.send(
                topic, record.replace(TEMPLATE.encode(), name.encode()), key=orjson.dumps(name)
            )
        await producer.flush()
        # The embedded broker reports a partition's end as the base of its last batch + 1:
        # a last batch of one record per partition makes that the true end, so recovery
        # reads everything (and a restart finds no state "ahead" of the changelog).
        for partition in range(settings.partitions):
            name = f"fill-{partition}"
            await producer.send(
                topic,
                record.replace(TEMPLATE.encode(), name.encode()),
                key=orjson.dumps(name),
                partition=partition,
            )
            await producer.flush()
    finally:
        await producer.stop()
    return time.monotonic() - started


def start_and_measure(env: dict[str, str], log: Path, accounts: int) -> dict:
    started = time.monotonic()
    worker = start_worker(env, log, with_view=True)
    try:
        worker.wait_ready(1800)
        ready_s = time.monotonic() - started
        rss, peak = memory_mib(worker.proc.pid, "VmRSS"), memory_mib(worker.proc.pid)
        for n in range(0, accounts, max(1, accounts // 20)):
            url = f"http://127.0.0.1:{worker.web_port}/accounts/acct-{n:07d}"
            with urllib.request.urlopen(url, timeout=10) as reply:
                assert orjson.loads(reply.read())["account_id"] == f"acct-{n:07d}"
    finally:
        worker.stop()
    return {"ready_s": round(ready_s, 1), "rss_mib": rss, "peak_rss_mib": peak}


@click.command()
@click.option("--sizes", default="100000,1000000", show_default=True)
def main(sizes: str) -> None:
    results = []
    with EmbeddedStack() as stack:
        for accounts in (int(s) for s in sizes.split(",")):
            app_id = f"bench-rocks-{accounts}"
            topics = Topics(**{k: f"{app_id}.{v}" for k, v in Topics().model_dump().items()})
            settings = stack.settings(topics=topics)
            asyncio.run(ensure_topics(settings))
            fill_s = asyncio.run(fill_changelog(settings, app_id, accounts))
            with tempfile.TemporaryDirectory(prefix="abm-rocks-") as data_dir:
                env = {
                    **worker_env(stack, settings, app_id),
                    "ABM_STORE": "rocksdb://",
                    "ABM_DATA_DIR": data_dir,
                    "ABM_WATCHDOG_STALL_S": "0",
                }
                log = Path(f"bench-artifacts/{app_id}")
                recovered = start_and_measure(env, log.with_suffix(".1.log"), accounts)
                click.echo(f"{accounts:,} accounts recovered: {recovered}")
                restarted = start_and_measure(env, log.with_suffix(".2.log"), accounts)
            row = {
                "accounts": accounts,
                "fill_s": round(fill_s, 1),
                "recovery": recovered,
                "restart": restarted,
            }
            results.append(row)
            click.echo(
                f"{accounts:>9,} accounts: recovered from the changelog in "
                f"{recovered['ready_s']}s (RSS {recovered['rss_mib']} MiB, peak "
                f"{recovered['peak_rss_mib']} MiB); restart on its RocksDB "
                f"{restarted['ready_s']}s (RSS {restarted['rss_mib']} MiB)"
            )
    RESULTS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
