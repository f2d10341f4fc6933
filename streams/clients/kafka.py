"""Kafka connection options from settings, shared by the admin, producers, readers and Faust."""

import contextlib
import ssl
from typing import TYPE_CHECKING, Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from streams.config import KafkaSecurity, Settings

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

__all__ = ["bootstrap_servers", "client_options", "faust_credentials", "started"]


def bootstrap_servers(settings: Settings) -> str:
    """`kafka://h1:9092;h2:9092` (Faust's URL form) as aiokafka's `h1:9092,h2:9092`."""
    hosts = settings.kafka_broker.removeprefix("kafka://")
    return ",".join(h.strip() for h in hosts.replace(";", ",").split(",") if h.strip())


def _ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    if not security.tls:
        return None
    return create_ssl_context(
        cafile=security.ca_file, certfile=security.cert_file, keyfile=security.key_file
    )


def client_options(settings: Settings) -> dict[str, Any]:
    security = settings.kafka_security
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "client_id": settings.app_id,
        "security_protocol": security.protocol,
        "ssl_context": _ssl_context(security),
    }
    if security.sasl:
        assert security.sasl_password is not None  # checked by KafkaSecurity
        options |= {
            "sasl_mechanism": security.sasl_mechanism,
            "sasl_plain_username": security.sasl_username,
            "sasl_plain_password": security.sasl_password.get_secret_value(),
        }
    return options


def faust_credentials(settings: Settings) -> "CredentialsT | None":
    """The same security for the worker's own clients (Faust takes credentials objects).

    Faust is imported here, not with the module: replay processes, which read with plain
    aiokafka, would otherwise spend 130 ms of their start importing it."""
    import faust

    security = settings.kafka_security
    context = _ssl_context(security)
    if security.sasl:
        assert security.sasl_password is not None
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=security.sasl_mechanism,
        )
    return faust.SSLCredentials(context) if context is not None else None


async def started(client: Any) -> None:
    """Start an aiokafka consumer, producer or admin client; when it cannot start (no
    broker), close it before the error goes up, or it lingers and prints "Unclosed ..."."""
    try:
        await client.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
        raise
