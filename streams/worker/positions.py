"""Partitions the group has never committed are read from their start, whenever faust
seeks to committed offsets; and no record is delivered while faust moves the positions.

Faust moves the consumer back to the committed offsets (`perform_seek`) after every
recovery, and also whenever a fetch returns while its flow is stopped: it drops the
records fetched then, and relies on that seek to read them again. aiokafka's seek to
committed offsets leaves a partition with no committed offset (or offset 0) where it is,
so for such a partition the dropped records were never read again. Found by the crash
test (tests/e2e/test_crash_points.py): a worker killed before its first offset commit on
a partition was followed by one that skipped records there; faust's gap bookkeeping then
committed past them, or, with a hole left in its acknowledgements, never committed that
partition again. Here each seek to committed offsets also seeks every such partition to
its log's start, as `consumer_auto_offset_reset = "earliest"` promises; records an
earlier owner already applied come back, and the offsets kept in each state skip them.

After a recovery faust calls that seek with its flow running (the recovery resumed it to
read the changelogs) and the input partitions already resumed, so a batch fetched before
the seek went on being delivered while the seek reset faust's read offsets under it: the
next record looked like a gap (`_add_gap`), counted as acknowledged a second time, and the
partition's commits then crept by one offset per commit round (a restarted worker took
minutes to commit a phase, issue 39); a read offset moved past records not yet delivered
made faust drop them (seen: 131 records of a partition skipped, the partition never
committed again; on a partition never committed, faust commits past such a hole). The
seek now stops the flow while it runs: the batch in hand is dropped (the seek reads it
again), and delivery resumes from the positions and read offsets the seek set.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import TopicPartition
from faust.types import TP

from streams.clients.group_lag import committed_offsets
from streams.worker.context import WorkerContext

__all__ = ["extend_seek", "register_positions"]

log = logging.getLogger(__name__)


async def seek_never_committed(worker: WorkerContext, topics: set[str]) -> None:
    """Seek each assigned partition of `topics` that the group never committed to its
    start. Raises if the offsets cannot be read: a worker that stops loses nothing, one
    that reads on from wherever its fetch position happens to be may."""
    consumer = worker.app.consumer
    mine = [TopicPartition(tp.topic, tp.partition) for tp in consumer.assignment()]
    mine = [tp for tp in mine if tp.topic in topics]
    if not mine:
        return
    committed = await committed_offsets(worker.settings, worker.settings.app_id, mine)
    fresh = [TP(tp.topic, tp.partition) for tp in mine if not committed.get(tp)]
    if not fresh:
        return
    for tp, offset in (await consumer.earliest_offsets(*fresh)).items():
        await consumer.seek(tp, offset)
    log.info("%d partitions never committed: read from their start", len(fresh))


def extend_seek(consumer: Any, never_committed: Callable[[], Awaitable[None]]) -> None:
    """Make the consumer's seek to committed offsets also run `never_committed`, with the
    flow stopped throughout (started again after, if it was running). Once per consumer."""
    if getattr(consumer.perform_seek, "never_committed_too", False):
        return
    to_committed = consumer.perform_seek
    one_at_a_time = asyncio.Lock()  # the fetch loop's own seek may start during a recovery's

    async def perform_seek() -> None:
        async with one_at_a_time:
            flowing = consumer.flow_active
            consumer.stop_flow()  # faust's fetch loop drops the batch in hand at its next record
            await to_committed()
            await never_committed()
            # Raised or cancelled (a rebalance began), the flow stays stopped: the next
            # recovery starts it, or the worker stops.
            if flowing:
                consumer.resume_flow()

    perform_seek.never_committed_too = True  # type: ignore[attr-defined]
    consumer.perform_seek = perform_seek


def register_positions(worker: WorkerContext) -> None:
    app = worker.app
    topics = {t.get_topic_name() for t in (*worker.inputs.values(), worker.clock, worker.erasure)}

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode's handler type
    async def extend_the_seek(sender: Any, *args: Any, **kwargs: Any) -> None:
        """Once, at the first assignment (the consumer exists by then)."""
        extend_seek(app.consumer, lambda: seek_never_committed(worker, topics))
