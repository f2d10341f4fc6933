"""aiokafka connection options from settings, shared by the admin, producer and readers."""

from typing import Any

from streams.config import Settings

__all__ = ["bootstrap_servers", "client_options"]


def bootstrap_servers(settings: Settings) -> str:
    """`kafka://h1:9092;h2:9092` (Faust's URL form) as aiokafka's `h1:9092,h2:9092`."""
    hosts = settings.kafka_broker.removeprefix("kafka://")
    return ",".join(h.strip() for h in hosts.replace(";", ",").split(",") if h.strip())


def client_options(settings: Settings) -> dict[str, Any]:
    return {"bootstrap_servers": bootstrap_servers(settings), "client_id": settings.app_id}
