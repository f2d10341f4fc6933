"""One agent per input topic; all share the account table, keyed and partitioned alike.

Each record is decoded and taken by the same dispatch as a replay's (logic/records.py);
the agent stores what it made and sends its outputs."""

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from faust.types import EventT, StreamT

from schemas.outputs import DeadLetterReason
from streams.logic.inputs.decode import InputKind, Rejected
from streams.logic.inputs.records import decode_record, take
from streams.worker.agents.emit import coords_of, now_ms, reject, store_and_send, store_campaign
from streams.worker.agents.identity import claims_of, index
from streams.worker.agents.watchdog import note_read
from streams.worker.context import WorkerContext

__all__ = ["register_ingest_agents"]

log = logging.getLogger(__name__)

Agent = Callable[[StreamT[Any]], Coroutine[Any, Any, None]]


def _ingest_agent(worker: WorkerContext, kind: InputKind) -> Agent:
    applied_n = worker.metrics.events[kind, "applied"]
    duplicate_n = worker.metrics.events[kind, "duplicate"]
    rejected_n = worker.metrics.events[kind, "dead_letter"]
    evicted_n = worker.metrics.ids_evicted
    limited_n = worker.metrics.limited
    processing = worker.metrics.processing
    span = worker.metrics.input_span
    indexed = kind in (InputKind.ACCOUNTS, InputKind.CONTACTS)  # the directory hears of them

    async def ingest(stream: StreamT[Any]) -> None:
        # Acknowledged once the state this event made is stored (see write_behind).
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            if not span.first:
                span.first = time.perf_counter()
            await handle(event)
            await worker.states.hold(event)
            # Here, not in handle: its early returns (dead letters) end a record too, and
            # hold can wait for a state flush, which is the record's work as well.
            span.last = time.perf_counter()

    async def handle(event: EventT) -> None:
        coords = coords_of(event)
        note_read(worker, event.message.tp, coords.offset)
        started = time.perf_counter()
        try:
            record = decode_record(kind, event.key, event.value)
            claims = claims_of(worker, record) if indexed else None
            taken = take(record, coords, worker.store, worker.rules, now_ms())
        except Rejected as why:
            rejected_n.inc()
            await reject(worker, coords, event.key, event.value, why)
            return
        except Exception as exc:  # a bug must not stop the stream or lose the record
            log.exception(
                "unexpected error on %s[%d]@%d", coords.topic, coords.partition, coords.offset
            )
            rejected_n.inc()
            failed = Rejected(DeadLetterReason.PROCESSING_ERROR, repr(exc))
            await reject(worker, coords, event.key, event.value, failed)
            return
        if claims is not None:
            await index(worker, claims, repeat=taken.duplicate)
        (duplicate_n if taken.duplicate else applied_n).inc()
        effect = taken.effect
        if effect is not None:
            if forgotten := effect.state.seen.evicted:  # a hot account's oldest ids
                evicted_n.inc(forgotten)
                effect.state.seen.evicted = 0
            if effect.limited:
                limited_n[effect.limited].inc()
            if taken.campaign:
                store_campaign(worker, effect)
            else:
                await store_and_send(worker, effect)
        processing.observe(time.perf_counter() - started)

    return ingest


def register_ingest_agents(worker: WorkerContext) -> None:
    for kind in InputKind:
        fun = _ingest_agent(worker, kind)
        fun.__name__ = fun.__qualname__ = f"ingest_{kind}"
        worker.app.agent(worker.inputs[kind], name=f"ingest-{kind}")(fun)
