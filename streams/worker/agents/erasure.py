"""Erasure requests (`abm forget`): the worker holding the account deletes what it keeps.

The request travels on the internal erasure topic, keyed by account like the inputs, so
the worker that owns the account applies it, in order with the records it already read
for it. An account's erasure deletes its state and roster (changelog tombstones), its
due entry, its view and its KPI counters, and sends nothing: a last change would carry
the id it is erasing. A contact's erasure removes the contact's id from the account's
state, roster and view, and re-evaluates the account without them. The outcome, with no
id in it, is left in Redis for `abm forget` to report. Where `abm view` keeps Redis, the
view process applies the request to what it writes too, and confirms it in Redis.
"""

import logging
import time

import orjson

from schemas.inputs import ErasureRequest
from streams.logic.apply import evaluate
from streams.logic.decode import Coords, Rejected, decode
from streams.logic.erasure import erase_contact, erase_from_roster, whose
from streams.logic.ticks import track_due
from streams.sinks.redis_keys import ERASURE_TTL_S
from streams.worker.agents.emit import commit, reject
from streams.worker.agents.watchdog import note_read
from streams.worker.context import WorkerContext

__all__ = ["register_erasure"]

log = logging.getLogger(__name__)


async def _erase(p: WorkerContext, request: ErasureRequest, partition: int) -> dict[str, int]:
    account = request.account_id
    erased = None if request.contact_sha256 is None else whose(request.contact_sha256)
    state = p.states.get(p.accounts, account)
    roster = p.states.get(p.rosters, account)
    # view_process: `abm view` keeps Redis, and says so itself once it applied the request
    outcome = {"state": 0, "roster": 0, "redis": 0, "view_process": int(not p.settings.worker_view)}
    if erased is None:
        if state is not None:
            p.states.delete(p.accounts, account, partition)
            track_due(p.due, account, None, partition)
            p.view.remove(account, partition)
            outcome["state"] = 1
        if roster is not None:
            p.states.delete(p.rosters, account, partition)
            outcome["roster"] = 1
    else:
        if (kept := erase_from_roster(roster, erased)) is not None:
            p.states.put(p.rosters, account, kept, partition)
            outcome["roster"] = 1
        if state is not None and (found := erase_contact(state, erased)):
            outcome["state"] = found
            await commit(p, evaluate(state, p.rules, state.clock, p.roster_of))
        elif outcome["roster"] and state is not None:
            await commit(p, evaluate(state, p.rules, state.clock, p.roster_of))
    await p.states.flush()  # the deletions are stored before the request is called done
    outcome["redis"] = await p.view.erase(account, erased)
    return outcome


def register_erasure(p: WorkerContext) -> None:
    @p.app.agent(p.erasure, name="erase")
    async def erase(stream) -> None:  # noqa: ANN001 - faust stream
        async for event in stream.noack().events():  # acked once stored: write_behind
            message = event.message
            note_read(p, message.tp, message.offset)
            await p.states.hold(event)
            try:
                request = decode(ErasureRequest, event.key, event.value)
            except Rejected as why:
                coords = Coords(message.topic, message.partition, message.offset, 0)
                await reject(p, coords, event.key, event.value, why)
                continue
            outcome = await _erase(p, request, message.partition)
            outcome["done_at"] = int(time.time() * 1000)
            key = p.view.keys.erasure(request.request_id)
            await p.view.redis.set(key, orjson.dumps(outcome), ex=ERASURE_TTL_S)
            log.info("erasure %s done: %s", request.request_id, outcome)
