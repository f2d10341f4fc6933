"""`abm lag` and its exporter against offsets the test itself produced and committed, on
the real broker.

The records are produced in batches (linger), the case where the embedded broker's
list-offsets answer is wrong; the high-water mark a fetch reports is right there and is
what Apache Kafka reports too, so the figures must equal what the test counted. (No
broker to reach: unit/test_lag_cli.py.)
"""

import asyncio
import json
import os
import subprocess
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from click.testing import CliRunner

from streams.cli import cli
from streams.clients.kafka import client_options
from streams.dev.embedded import free_port
from streams.dev.supervise import scrape
from tests.harness import pipeline_settings

PRODUCED = {0: 120, 1: 35, 2: 0, 3: 64}
"""Records per partition of the engagement topic."""
COMMITTED = {0: 100, 1: 35, 3: None}
"""The group's commits: behind, caught up, and none on partition 3 (and nothing on 2)."""


async def produce_and_commit(settings, group: str) -> None:
    topic = settings.topics.engagement
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=50)
    await producer.start()
    try:
        for partition, count in PRODUCED.items():
            for _ in range(count):
                await producer.send(topic, b"{}", key=b"k", partition=partition)
            await producer.flush()
    finally:
        await producer.stop()
    commits = {
        TopicPartition(topic, p): OffsetAndMetadata(offset, "")
        for p, offset in COMMITTED.items()
        if offset is not None
    }
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(commits))
        await consumer.commit(commits)
    finally:
        await consumer.stop()


def test_lag_equals_the_offsets_produced_and_committed(stack):
    settings, env = pipeline_settings(stack)
    group = f"{settings.app_id}-lag"
    asyncio.run(produce_and_commit(settings, group))
    result = CliRunner().invoke(
        cli,
        ["lag", "--group", group, "--samples", "2", "--interval", "6", "--json"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = {(r["topic"], r["partition"]): r for r in map(json.loads, result.output.splitlines())}
    assert len(rows) == len(settings.topics.consumed()) * settings.partitions
    for partition, count in PRODUCED.items():
        row = rows[settings.topics.engagement, partition]
        committed = COMMITTED.get(partition)
        assert row["highwater"] == count
        assert row["committed"] == committed
        assert row["lag"] == count - (committed or 0)
    status = {p: rows[settings.topics.engagement, p]["status"] for p in PRODUCED}
    assert status == {0: "STALL", 1: "OK", 2: "OK", 3: "STOP"}
    assert all(r["lag"] == 0 for (t, _), r in rows.items() if t != settings.topics.engagement)


def test_the_exporter_serves_the_same_figures_while_no_worker_runs(stack, tmp_path):
    """The exporter is the CLI's reading, served: a scrape shows every partition's lag,
    offsets and status (STALL only once the evidence spans long enough), and `up` 1."""
    settings, env = pipeline_settings(stack)
    group = f"{settings.app_id}-exporter"
    asyncio.run(produce_and_commit(settings, group))
    port = free_port()
    log = (tmp_path / "exporter.log").open("wb")
    command = ["lag", "--serve", str(port), "--group", group, "--every", "1"]
    exporter = subprocess.Popen(
        [sys.executable, "-m", "streams", *command],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, scraped = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            scraped = _scrape(port)
            stalled = scraped.get(
                ("abm_group_partition_status", _labels(group, settings, 0, "STALL"))
            )
            if stalled == 1:
                break
            time.sleep(0.5)
        assert scraped[("abm_lag_exporter_up", ())] == 1
        for partition, count in PRODUCED.items():
            at = _labels(group, settings, partition)
            committed = COMMITTED.get(partition)
            assert scraped[("abm_group_lag", at)] == count - (committed or 0)
            assert scraped[("abm_group_highwater", at)] == count
            assert scraped.get(("abm_group_committed_offset", at)) == committed
        status = {
            p: next(
                s
                for s in ("OK", "WARN", "STALL", "STOP", "REWIND")
                if scraped[("abm_group_partition_status", _labels(group, settings, p, s))] == 1
            )
            for p in PRODUCED
        }
        assert status == {0: "STALL", 1: "OK", 2: "OK", 3: "STOP"}
        assert scraped[("abm_group_members", (("group", group),))] == 0
    finally:
        exporter.terminate()
        exporter.wait(10)
        log.close()


def _labels(group, settings, partition, status=None):
    labels = {"group": group, "topic": settings.topics.engagement, "partition": str(partition)}
    if status:
        labels["status"] = status
    return tuple(sorted(labels.items()))


def _scrape(port: int) -> dict:
    try:
        return scrape(port)
    except OSError:  # not serving yet
        return {}
