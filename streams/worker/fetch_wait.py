"""How long the worker's consumer lets the broker hold a fetch that found no data.

faust-streaming 0.15 hard-codes `fetch_max_wait_ms=1500` for the worker's consumer. On
Apache Kafka that costs nothing, as the broker answers as soon as data arrives. The
embedded broker does not: it holds an empty fetch for the full wait even when records
arrive meanwhile, so an event on a quiet partition waits up to 1.5 s before any agent
sees it (the event-to-alert latency at both settings is in bench/README.md).
The setting is applied to the consumer faust creates, as faust offers no option for it.
"""

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

__all__ = ["set_fetch_max_wait"]

_faust_create = AIOKafkaConsumerThread._create_worker_consumer


def set_fetch_max_wait(ms: int) -> None:
    """Make every worker consumer created from now on in this process use `ms`."""

    def create(thread: AIOKafkaConsumerThread, transport: Any) -> Any:
        consumer = _faust_create(thread, transport)
        consumer._fetch_max_wait_ms = ms
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign, assignment]
