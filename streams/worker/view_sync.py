"""Keeping the Redis view in step with the tables: the flush timer, and the re-sync.

The re-sync is what makes Redis a view: whatever a crash or outage left in it, the table
state rewrites it whole once the worker owns its partitions again (after each rebalance)
or once Redis is found empty (its sentinel key gone). It is one pass over the owned
tables, keeping no state, and the same pass rebuilds what the worker keeps beside the
tables (the due index, stream time) and finds outputs a crash may have left undelivered
in the outboxes, which are re-sent when recovery is complete and before the streams
resume, once per consumer generation.
"""

import logging
import time
from typing import Any

import faust

from streams.logic.inputs.decode import InputKind
from streams.logic.state.state import AccountState
from streams.logic.state.ticks import advance, track_due
from streams.worker.agents.emit import resend_outboxes
from streams.worker.context import WorkerContext
from streams.worker.survive import survive

__all__ = ["register_view_sync", "resync"]

log = logging.getLogger(__name__)


def owned_partitions(worker: WorkerContext) -> list[int]:
    """Partitions of the account table this worker owns (inputs are co-partitioned)."""
    topic = worker.inputs[InputKind.ENGAGEMENT].get_topic_name()
    return sorted(tp.partition for tp in worker.app.consumer.assignment() if tp.topic == topic)


def resync(worker: WorkerContext) -> list[AccountState]:
    """Mark every owned account and campaign for rewriting and recount the KPI partials
    from table state; return the accounts with outputs in their outbox.

    The view loads each account again when it writes it (a RocksDB table of a million
    accounts would not fit in memory decoded).
    """
    worker.view.recount(owned_partitions(worker))
    worker.due.clear()
    pending = []
    for state in worker.accounts.values():
        if state is None:
            continue
        worker.view.mark_id(state.account_id)
        track_due(worker.due, state.account_id, state.due_at, state.partition)
        if state.outbox:
            pending.append(state)
        advance(worker.stream_time, state.partition, state.clock)  # stream time is in state
    for state in worker.campaigns.values():
        if state is not None:
            worker.view.mark_campaign(state)
            advance(worker.stream_time, state.partition, state.clock)
    return pending


def register_view_sync(worker: WorkerContext) -> None:
    """Flush dirty snapshots on a timer; after each rebalance, re-sync every owned account."""
    app = worker.app
    synced_generation = [-1]

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # mode's handler type
    async def resync_after_rebalance(sender: faust.App, **kwargs: Any) -> None:
        if synced_generation[0] == app.consumer_generation_id:
            return
        synced_generation[0] = app.consumer_generation_id
        if resent := await resend_outboxes(worker, resync(worker)):
            log.info("re-sent %d outputs recovered in outboxes", resent)

    @app.timer(interval=worker.settings.redis_flush_interval_s, name="flush-redis-view")
    @survive("flush-redis-view", worker.metrics.task_errors)
    async def flush_redis_view() -> None:
        if worker.view.lost:  # Redis came back empty: rewrite all of it
            worker.view.lost = False
            resync(worker)
        if worker.view.due(time.monotonic()):
            with worker.metrics.redis_flush.time():
                await worker.view.flush_all()
        await worker.view.publish_kpis(worker.settings.kpi_interval_s)
