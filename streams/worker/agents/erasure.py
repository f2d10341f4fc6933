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

import functools
import logging
import time

from schemas.inputs import ErasureOutcome, ErasureRequest
from schemas.outputs import DeadLetterReason, SurgeAlert
from streams.clients.redis_keys import ERASURE_TTL_S
from streams.logic.inputs.apply import evaluate
from streams.logic.inputs.decode import Coords, Rejected, decode
from streams.logic.state.erasure import (
    Erased,
    MissingKey,
    erase_contact,
    erase_from_roster,
    names,
    scrub_alert,
    whose,
)
from streams.logic.state.ticks import track_due
from streams.sinks.notify import Delivery
from streams.worker.agents.emit import reject, store_and_send
from streams.worker.agents.watchdog import note_read
from streams.worker.context import WorkerContext

__all__ = ["register_erasure", "without_erased"]

log = logging.getLogger(__name__)


async def _erase(worker: WorkerContext, request: ErasureRequest, partition: int) -> ErasureOutcome:
    account = request.account_id
    person = request.person()
    try:
        erased = None if person is None else whose(person, worker.settings.erasure_key_bytes())
    except MissingKey as exc:
        raise Rejected(DeadLetterReason.INVALID_PAYLOAD, str(exc)) from None
    state = worker.states.get(worker.accounts, account)
    roster = worker.states.get(worker.rosters, account)
    in_state = in_roster = 0
    if erased is None:
        if state is not None:
            worker.states.delete(worker.accounts, account, partition)
            track_due(worker.due, account, None, partition)
            worker.view.remove(account, partition)
            in_state = 1
        if roster is not None:
            worker.states.delete(worker.rosters, account, partition)
            in_roster = 1
    else:
        if (kept := erase_from_roster(roster, erased)) is not None:
            worker.states.put(worker.rosters, account, kept, partition)
            in_roster = 1
        if state is not None:
            in_state = erase_contact(state, erased)
            if in_state or in_roster:  # its personas or engaged contacts changed
                rosters = worker.store.rosters
                await store_and_send(worker, evaluate(state, worker.rules, state.clock, rosters))
    for sink in worker.webhooks:  # what waits in a route's queue
        sink.rewrite(functools.partial(without_erased, account, erased))
    await worker.states.flush()  # the deletions are stored before the request is called done
    return ErasureOutcome(
        state=in_state,
        roster=in_roster,
        redis=await worker.view.erase(account, erased),
        # `abm view` keeps Redis, and says so itself once it applied the request
        view_process=not worker.settings.worker_view,
        done_at=int(time.time() * 1000),
    )


def without_erased(account: str, erased: Erased | None, item: Delivery) -> Delivery | None:
    """A queued delivery as it may still go: none of an account erased whole, and an
    alert without the erased person (its tier changes name no one)."""
    if item.account_id != account:
        return item
    if erased is None:
        return None
    if isinstance(item, SurgeAlert) and names(item, erased):
        return scrub_alert(item, erased)
    return item


def register_erasure(worker: WorkerContext) -> None:
    @worker.app.agent(worker.erasure, name="erase")
    async def erase(stream) -> None:  # noqa: ANN001 - faust stream
        async for event in stream.noack().events():  # acked once stored: write_behind
            message = event.message
            note_read(worker, message.tp, message.offset)
            await worker.states.hold(event)
            try:
                request = decode(ErasureRequest, event.key, event.value)
                outcome = await _erase(worker, request, message.partition)
            except Rejected as why:
                coords = Coords(message.topic, message.partition, message.offset, 0)
                await reject(worker, coords, event.key, event.value, why)
                continue
            key = worker.keys.erasure(request.request_id)
            await worker.redis.set(key, outcome.model_dump_json(), ex=ERASURE_TTL_S)
            log.info("erasure %s done: %s", request.request_id, outcome)
