"""Starting `abm collect`, serving until SIGINT or SIGTERM, and stopping cleanly.

The order matters at both ends. At the start: refuse to run without a write key (every
call would be refused, and the sites would only see 401s), make sure the Segment topic
exists with the pipeline's partition count (the broker might otherwise create it with
its own), and connect the producer before the port opens, so that no request is taken
that cannot be sent. At the stop: close the port first, let the requests in hand finish
(each waits at most for its acknowledgement), then flush and close the producer.
"""

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from streams.clients.admin import ensure_topics
from streams.collect.auth import WriteKeys
from streams.collect.sender import Sender
from streams.collect.server import Collector
from streams.config import Settings

__all__ = ["CollectError", "run_collect", "serve_collect"]


class CollectError(Exception):
    """`abm collect` cannot start; the message says why, for the person starting it."""


def write_keys(settings: Settings) -> WriteKeys:
    try:
        return WriteKeys(settings.collect_write_keys)
    except ValueError as exc:
        raise CollectError(str(exc)) from None


async def serve_collect(
    settings: Settings,
    host: str,
    port: int,
    started: Callable[[int], None],
    stop: asyncio.Event,
) -> None:
    """Serve on host:port (0: any free port, told to `started`) until `stop` is set."""
    keys = write_keys(settings)
    await ensure_topics(settings, [settings.topics.segment])
    sender = Sender(settings)
    await sender.start()
    try:
        runner = web.AppRunner(
            Collector(settings, keys, sender).app(),
            access_log=None,
            shutdown_timeout=settings.collect_ack_timeout_s + 1,
        )
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                raise CollectError(f"cannot serve on {host}:{port}: {exc.strerror}") from None
            started(runner.addresses[0][1])
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await sender.stop()


def run_collect(settings: Settings, host: str, port: int, started: Callable[[int], None]) -> None:
    """`abm collect`: serve until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_collect(settings, host, port, started, stop)

    asyncio.run(main())
