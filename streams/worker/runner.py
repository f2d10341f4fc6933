"""Starting a worker process: topics first, then the Faust worker with quiet client loggers."""

import asyncio
import logging

import faust

from streams.clients.admin import ensure_topics
from streams.config import Settings
from streams.gc_tuning import tune_for_state
from streams.worker.app import create_app, quiet_client_loggers

__all__ = ["run_worker"]


class _Worker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        quiet_client_loggers()


def run_worker(settings: Settings) -> None:
    """Block running a worker until SIGINT/SIGTERM; Faust commits and closes on the way out."""
    app, _ = create_app(settings)  # first: a bad route stops us before the broker is touched
    asyncio.run(ensure_topics(settings))
    tune_for_state()
    _Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
