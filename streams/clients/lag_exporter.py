"""The group's lag, read from the broker and served as Prometheus metrics.

A worker's own /metrics goes silent exactly when ops needs it most: when the worker is
dead or hung. This process reads committed offsets and high-water marks from the broker
on its own timer (as `abm lag` does, as kafka-lag-exporter and Burrow do), so the lag of
every partition stays visible, and alertable, while no worker runs.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aiohttp import web
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.clients.group_lag import LagHistory, LagReadError, PartitionLag, assigned_partitions
from streams.clients.partition_status import LagStatus
from streams.config import Settings

__all__ = ["LagExporter", "serve_lag"]

log = logging.getLogger(__name__)


@dataclass
class Reading:
    """The last successful read, and whether the latest attempt succeeded."""

    rows: list[PartitionLag] = field(default_factory=list)
    owned: set[tuple[str, int]] | None = None
    """Partitions a live member has assigned; None when the broker does not say."""
    members: int | None = None
    ok: bool = False
    at: float = 0.0
    """Wall-clock time of the last successful read (0: none yet)."""
    error: str | None = None


class LagExporter(Collector):
    """Reads the group's offsets every `every_s` seconds; a scrape renders the last read."""

    def __init__(self, settings: Settings, group: str, topics: list[str], every_s: float) -> None:
        self.settings, self.group, self.every_s = settings, group, every_s
        self.history = LagHistory(settings, group, topics)
        self.reading = Reading()
        self.registry = CollectorRegistry()
        self.registry.register(self)

    async def read_once(self) -> Reading:
        timeout_s = max(self.every_s, 5.0)
        try:
            rows = await self.history.read(timeout_s=timeout_s)
            members, owned = await asyncio.wait_for(
                assigned_partitions(self.settings, self.group), timeout_s
            )
        except (KafkaError, LagReadError, OSError, TimeoutError) as exc:
            error = f"cannot read offsets from {self.settings.kafka_broker}: {exc}"
            if self.reading.ok or self.reading.error is None:
                log.warning("%s", error)
            self.reading.ok, self.reading.error = False, error
            return self.reading
        if not self.reading.ok:
            log.info("reading offsets of group %s from %s", self.group, self.settings.kafka_broker)
        self.reading = Reading(rows, owned, members, ok=True, at=time.time())
        return self.reading

    async def run(self) -> None:
        """Read every `every_s` until cancelled; a read that fails unexpectedly is logged
        and reported (`abm_lag_exporter_up` 0, /health 503), and the next one tried."""
        while True:
            try:
                await self.read_once()
            except Exception as exc:
                log.exception("reading offsets failed unexpectedly")
                self.reading.ok, self.reading.error = False, f"reading offsets failed: {exc!r}"
            await asyncio.sleep(self.every_s)

    def collect(self) -> Iterator[Metric]:
        reading, group = self.reading, self.group
        labels = ["group", "topic", "partition"]
        lag = GaugeMetricFamily(
            "abm_group_lag",
            "Records waiting per partition (everything, if the group never committed)",
            labels=labels,
        )
        committed = GaugeMetricFamily(
            "abm_group_committed_offset",
            "The group's committed offset (absent before the first commit)",
            labels=labels,
        )
        highwater = GaugeMetricFamily(
            "abm_group_highwater", "The log's high-water mark, as a fetch reports it", labels=labels
        )
        status = GaugeMetricFamily(
            "abm_group_partition_status",
            "1 for the partition's status (as `abm lag` judges it), 0 for the others",
            labels=[*labels, "status"],
        )
        owned = GaugeMetricFamily(
            "abm_group_partition_owned",
            "1 if a live member has the partition assigned; absent when the broker does not "
            "report assignments (the embedded broker does not)",
            labels=labels,
        )
        for row in reading.rows:
            key = [group, row.topic, str(row.partition)]
            lag.add_metric(key, row.lag)
            highwater.add_metric(key, row.highwater)
            if row.committed is not None:
                committed.add_metric(key, row.committed)
            for value in LagStatus:
                status.add_metric([*key, value.value], float(row.status is value))
            if reading.owned is not None:
                owned.add_metric(key, float((row.topic, row.partition) in reading.owned))
        members = GaugeMetricFamily(
            "abm_group_members", "Members of the group, as the broker reports", labels=["group"]
        )
        if reading.members is not None:
            members.add_metric([group], reading.members)
        up = GaugeMetricFamily("abm_lag_exporter_up", "1 when the last read from the broker worked")
        up.add_metric([], float(reading.ok))
        last = GaugeMetricFamily(
            "abm_lag_exporter_last_read_timestamp_seconds", "When offsets were last read"
        )
        last.add_metric([], reading.at)
        yield from (lag, committed, highwater, status, owned, members, up, last)


def _app(exporter: LagExporter) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(exporter.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(_: web.Request) -> web.Response:
        reading = exporter.reading
        body = {"ok": reading.ok, "error": reading.error, "last_read": reading.at or None}
        return web.json_response(body, status=200 if reading.ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


async def serve_lag(
    exporter: LagExporter, host: str, port: int, started: Callable[[], None]
) -> None:
    """Serve /metrics and /health and read offsets until cancelled."""
    runner = web.AppRunner(_app(exporter), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        started()
        await exporter.run()
    finally:
        await runner.cleanup()
