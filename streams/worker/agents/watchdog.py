"""A worker that cannot make progress says why and exits, instead of hanging silently.

Measured on the embedded broker: restarted under a running worker (empty, as it keeps
everything in memory), the broker comes back, the worker re-joins without complaint and
then drops every new record as a redelivery, because offsets started again from zero
below what the account states already hold. Apache Kafka does not lose its log on a
restart, but a recreated topic does the same. A consumer stuck without progress while
records wait is the other silent failure. Either way the worker logs the reason and
exits with EXIT_NO_PROGRESS, so a supervisor restarts it and ops see why.
"""

import asyncio
import logging
import math
import os
from collections import deque

from faust.types import TP

from streams.clients.partition_status import Sample, rewound, stalled
from streams.worker.context import WorkerContext
from streams.worker.web import is_ready

__all__ = ["EXIT_NO_PROGRESS", "note_read", "register_watchdog"]

log = logging.getLogger(__name__)

EXIT_NO_PROGRESS = 3
SHUTDOWN_GRACE_S = 20.0
"""A clean stop commits and flushes; if the broker is gone it can hang, so it is bounded."""


class NoProgress(RuntimeError):
    """The worker cannot make progress on an input partition; the message says why."""


def _name(tp: TP) -> str:
    return f"{tp.topic}[{tp.partition}]"


def _exit_now(reason: str) -> None:
    """No clean stop: it would commit the offsets of records dropped against a lost log."""
    log.critical("stopping the worker: %s", reason)
    logging.shutdown()
    os._exit(EXIT_NO_PROGRESS)


def note_read(worker: WorkerContext, tp: TP, offset: int) -> None:
    """Called by every agent for every record, before it is processed.

    A record at or below an offset already read in this run is a redelivery after a
    rebalance, unless the log now ends there. Checked on the record itself, so no record
    of a rewound log is acted on (a tick would write state) or acknowledged (and then
    skipped by the worker started next).
    """
    read_to = worker.read_to.get(tp, -1)
    if offset <= read_to:
        _stop_if_rewound(worker, tp, read_to)
    worker.read_to[tp] = offset


def _stop_if_rewound(worker: WorkerContext, tp: TP, read_to: int) -> None:
    highwater = worker.app.consumer.highwater(tp)
    if highwater is not None and (reason := rewound(_name(tp), highwater, read_to)):
        _exit_now(reason)


async def _sample(worker: WorkerContext, tp: TP) -> Sample | None:
    highwater = worker.app.consumer.highwater(tp)
    if highwater is None:
        return None
    read_to = worker.read_to.get(tp)
    position = read_to + 1 if read_to is not None else await worker.app.consumer.position(tp)
    return Sample(position, int(highwater))


def register_watchdog(worker: WorkerContext) -> None:
    """A timer samples every owned input partition; a stall over the window exits."""
    settings = worker.settings
    window = max(2, math.ceil(settings.watchdog_stall_s / settings.watchdog_interval_s) + 1)
    history: dict[TP, deque[Sample]] = {}
    names = {t.get_topic_name() for t in (*worker.inputs.values(), worker.clock)}

    @worker.app.timer(interval=settings.watchdog_interval_s, name="watch-progress")
    async def watch_progress() -> None:
        if not is_ready(worker):  # recovering or rebalancing: positions are not ours yet
            history.clear()
            return
        owned = sorted(tp for tp in worker.app.consumer.assignment() if tp.topic in names)
        for tp in owned:
            if (sample := await _sample(worker, tp)) is None:
                continue
            if (read_to := worker.read_to.get(tp)) is not None:
                _stop_if_rewound(worker, tp, read_to)
            samples = history.setdefault(tp, deque(maxlen=window))
            samples.append(sample)
            judged = settings.watchdog_stall_s > 0 and len(samples) == window
            if judged and (reason := stalled(_name(tp), samples)):
                log.critical("stopping the worker: %s", reason)
                asyncio.get_running_loop().call_later(SHUTDOWN_GRACE_S, os._exit, EXIT_NO_PROGRESS)
                await worker.app.crash(NoProgress(reason))
                return
