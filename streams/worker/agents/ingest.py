"""One agent per input topic; all share the account table, keyed and partitioned alike.

A contacts record is not applied to the account's state: it replaces the account's roster
(its own table) and re-tiers the account, whose engaged contacts now have personas."""

import logging
import time
from collections.abc import AsyncIterator

from faust.types import EventT
from pydantic import BaseModel

from schemas.outputs import DeadLetterReason
from streams.logic.apply import Applied, apply_event, apply_removal, apply_roster
from streams.logic.decode import (
    INPUT_MODELS,
    PROFILES,
    ROSTERS,
    Coords,
    Rejected,
    decode,
    decode_roster,
    is_campaign_spend,
    owner_of,
    tombstone_owner,
)
from streams.logic.roster import received
from streams.worker.agents.emit import commit, commit_campaign, now_ms, reject
from streams.worker.agents.watchdog import note_read
from streams.worker.context import WorkerContext

__all__ = ["register_ingest_agents"]

log = logging.getLogger(__name__)


def _ingest_agent(p: WorkerContext, kind: str, model: type[BaseModel]):  # noqa: ANN202 - faust agent fun
    applied_n = p.metrics.events[kind, "applied"]
    duplicate_n = p.metrics.events[kind, "duplicate"]
    rejected_n = p.metrics.events[kind, "dead_letter"]
    processing = p.metrics.processing

    async def ingest(stream: AsyncIterator) -> None:
        # Acknowledged once the state this event made is stored (see write_behind).
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            await handle(event)
            await p.states.hold(event)

    async def handle(event: EventT) -> None:
        message = event.message
        coords = Coords(
            message.topic, message.partition, message.offset, int(message.timestamp * 1000)
        )
        note_read(p, message.tp, message.offset)
        started = time.perf_counter()
        campaign = False
        try:
            if kind == ROSTERS:
                duplicate, applied = _take_roster(p, event.key, event.value, coords)
            elif kind == PROFILES and event.value is None:
                account = tombstone_owner(event.key)
                state = p.states.get(p.accounts, account)
                applied = apply_removal(state, p.rules, coords, p.roster_of)
                duplicate = applied is not None and applied.duplicate
            else:
                decoded = decode(model, event.key, event.value)
                campaign = is_campaign_spend(decoded)
                table = p.campaigns if campaign else p.accounts
                state = p.states.get(table, owner_of(decoded))
                applied = apply_event(state, decoded, coords, p.rules, now_ms(), p.roster_of)
                duplicate = applied.duplicate
        except Rejected as why:
            rejected_n.inc()
            await reject(p, coords, event.key, event.value, why)
            return
        except Exception as exc:  # a bug must not stop the stream or lose the record
            log.exception(
                "unexpected error on %s[%d]@%d", coords.topic, coords.partition, coords.offset
            )
            why = Rejected(DeadLetterReason.PROCESSING_ERROR, repr(exc))
            rejected_n.inc()
            await reject(p, coords, event.key, event.value, why)
            return
        (duplicate_n if duplicate else applied_n).inc()
        if applied is not None and campaign:
            commit_campaign(p, applied)
        elif applied is not None:
            await commit(p, applied)
        processing.observe(time.perf_counter() - started)

    return ingest


def _take_roster(
    p: WorkerContext, key: bytes | None, value: bytes | None, coords: Coords
) -> tuple[bool, Applied | None]:
    """Store a roster record; (was it a duplicate, the account re-tiered if it has a
    state: an account is not made by a roster alone)."""
    account, record = decode_roster(key, value)
    source = f"{coords.topic}:{coords.partition}"
    current = p.states.get(p.rosters, account)
    roster = received(current, account, record, source, coords.offset, coords.timestamp)
    if roster is None:
        return True, None
    p.states.put(p.rosters, account, roster, coords.partition)
    state = p.states.get(p.accounts, account)
    return False, None if state is None else apply_roster(state, p.rules, p.roster_of)


def register_ingest_agents(p: WorkerContext) -> None:
    for kind, model in INPUT_MODELS.items():
        fun = _ingest_agent(p, kind, model)
        fun.__name__ = fun.__qualname__ = f"ingest_{kind}"
        p.app.agent(p.inputs[kind], name=f"ingest-{kind}")(fun)
