"""Publishing results: tier changes and alerts keyed by account, dead letters as their source.

Outputs go through an outbox in the account's own state record: stored in the same
changelog record as the state change that produced them, sent, and dropped at the
account's next write once the broker has acknowledged them. A worker killed after its
state was stored but before its outputs were delivered would otherwise lose them for
good: the event comes back after the restart, but the recovered state has already
applied it. The recovered outbox is re-sent instead (consumers drop repeats by version
and alert_id). Killed before the state was stored, the event is applied again and makes
the same outputs.
"""

import asyncio
import logging
import time
from typing import Any, cast

from faust.types import EventT

from schemas.outputs import (
    AlertOutcome,
    DeadLetter,
    DeadLetterReason,
    StageChange,
    SurgeAlert,
    TierChange,
)
from streams.logic.inputs.apply import Effect
from streams.logic.inputs.decode import DEAD_LETTER_KEY_BYTES, Coords, Rejected, dead_letter
from streams.logic.routes import matching, tier_up
from streams.logic.state.state import (
    ALERT_OUTCOME,
    STAGE_CHANGE,
    SURGE_ALERT,
    TIER_CHANGE,
    AccountState,
    OutboxEntry,
    entry_id_of,
)
from streams.logic.state.ticks import advance, track_due
from streams.sinks.notify import Delivery
from streams.worker.context import WorkerContext

__all__ = [
    "coords_of",
    "register_webhooks",
    "reject",
    "reject_output",
    "resend_outboxes",
    "route",
    "store_and_send",
    "store_campaign",
]

log = logging.getLogger(__name__)


def coords_of(event: EventT) -> Coords:
    """Where an input record came from, and its broker time (epoch ms)."""
    message = event.message
    return Coords(message.topic, message.partition, message.offset, int(message.timestamp * 1000))


def now_ms() -> int:
    return int(time.time() * 1000)


async def store_and_send(worker: WorkerContext, effect: Effect) -> None:
    """Store the account's state with its new outputs in its outbox (one changelog record
    at the next flush), mark it for the view, and send the outputs."""
    if not effect.write:
        return
    state = effect.state
    if effect.removed:
        await _remove(worker, effect)
        return
    if state.outbox:
        state.outbox = _owed(worker, state.outbox)
    outputs = _outputs(worker, effect)
    state.outbox.extend(entry for entry, _ in outputs)
    worker.states.put(worker.accounts, state.account_id, state, state.partition)
    track_due(worker.due, state.account_id, state.due_at, state.partition)
    worker.view.mark(state)
    advance(worker.stream_time, state.partition, state.clock)
    for entry, output in outputs:
        await _deliver(worker, state.account_id, entry, output, fresh=True)


Output = TierChange | StageChange | SurgeAlert | AlertOutcome


def _outputs(worker: WorkerContext, effect: Effect) -> list[tuple[OutboxEntry, Output]]:
    """The outbox entries of what an input made (its tier change, stage change, alerts,
    alert outcomes), each naming the routes it is owed to (none for a held-out alert)."""
    out: list[tuple[OutboxEntry, Output]] = []
    change = effect.change
    if change is not None:
        entry = OutboxEntry.of_change(change)
        if tier_up(change.previous_tier, change.tier):
            owner = effect.state.profile.owner if effect.state.profile else None
            entry.routes = _routes(worker, "tier_up", owner, change.tier, None)
        out.append((entry, change))
    if effect.stage_change is not None:
        out.append((OutboxEntry.of_stage_change(effect.stage_change), effect.stage_change))
    for alert in effect.alerts:
        entry = OutboxEntry.of_alert(alert)
        reissue = alert.reissue_of is not None
        route = (alert.kind, alert.owner, alert.tier, alert.cluster, reissue, alert.holdout)
        entry.routes = _routes(worker, *route)
        out.append((entry, alert))
    out.extend((OutboxEntry.of_outcome(o), o) for o in effect.outcomes)
    return out


async def _deliver(
    worker: WorkerContext, account_id: str, entry: OutboxEntry, output: Output, fresh: bool
) -> int:
    """Send an output wherever it is owed: its topic (with the Redis mirror of alerts and
    tier changes) and its routes; return how many sends. A `fresh` output, just made, goes
    to its topic whatever this process delivered: after a removal an account's versions
    start again, and so do its entry ids."""
    sends = 0
    if fresh or entry.entry_id not in worker.delivered:
        await send_entry(worker, account_id, entry)
        if isinstance(output, SurgeAlert):
            alert_sinks(worker, output)
        elif isinstance(output, TierChange):
            worker.view.change(output)
        sends += 1
    if entry.routes and isinstance(output, SurgeAlert | TierChange):
        await route(worker, output, entry.routes)
        sends += 1
    return sends


def _routes(
    worker: WorkerContext,
    kind: str,
    owner: str | None,
    tier: int,
    cluster: str | None,
    reissue: bool = False,
    holdout: bool = False,
) -> list[str]:
    """The routes an output of `kind` about this account goes to."""
    routes = [s.route for s in worker.webhooks]
    return [r.name for r in matching(routes, kind, owner, tier, cluster, reissue, holdout)]


def _owed(worker: WorkerContext, outbox: list[OutboxEntry]) -> list[OutboxEntry]:
    """The entries still owed somewhere: to their topic, or to a route (each route that is
    done with one leaves its list)."""
    done = worker.delivered
    kept = []
    for entry in outbox:
        if entry.routes:
            entry.routes = [r for r in entry.routes if f"{entry.entry_id}>{r}" not in done]
        if entry.routes or entry.entry_id not in done:
            kept.append(entry)
    return kept


def settled(worker: WorkerContext, route_name: str, item: Delivery) -> None:
    """A route is done with an output (posted, dead-lettered, or too old to post)."""
    worker.delivered.add(f"{entry_id_of(item)}>{route_name}")


async def _remove(worker: WorkerContext, effect: Effect) -> None:
    """The account's last changes go out, then its state, due entry and view go.

    No outbox: it would live in the record being deleted. The changes are sent before
    the state's tombstone is stored, and the tombstone record is acknowledged only after
    that (write-behind): a crash before then re-applies the removal to the stored state
    and sends the same changes (same versions) again.
    """
    state = effect.state
    for entry, output in _outputs(worker, effect):
        await _deliver(worker, state.account_id, entry, output, fresh=True)
    worker.states.delete(worker.accounts, state.account_id, state.partition)
    track_due(worker.due, state.account_id, None, state.partition)
    worker.view.remove(state.account_id, state.partition)


async def route(worker: WorkerContext, item: Delivery, routes: list[str]) -> None:
    """Offer an output to the named routes (a route no longer configured is skipped); a
    full queue dead-letters it there."""
    for sink in worker.webhooks:
        if sink.name in routes and not sink.offer(item):
            error = f"route {sink.name}: queue full"
            await reject_output(worker, item, DeadLetterReason.WEBHOOK_OVERFLOW, error, sink.name)
            settled(worker, sink.name, item)


async def send_entry(worker: WorkerContext, account_id: str, entry: OutboxEntry) -> None:
    """Send one outbox entry; remember it as delivered once the broker acknowledges it."""
    topics = {
        TIER_CHANGE: worker.tier_changes,
        STAGE_CHANGE: worker.stage_changes,
        ALERT_OUTCOME: worker.alert_outcomes,
    }
    topic = topics.get(entry.kind, worker.surge_alerts)
    worker.metrics.outputs[entry.kind].inc()
    sent = await topic.send(key=account_id.encode(), value=entry.value.encode())
    future = cast(asyncio.Future[Any], sent)  # faust's FutureMessage

    def acknowledged(done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is None:
            worker.delivered.add(entry.entry_id)
            worker.crash.passed("output-delivered")

    future.add_done_callback(acknowledged)


def alert_sinks(worker: WorkerContext, alert: SurgeAlert) -> None:
    """Beside the topic: the Redis mirror (idempotent by alert_id)."""
    worker.view.alert(alert)


async def resend_outboxes(worker: WorkerContext, states: list[AccountState]) -> int:
    """After recovery: re-send every entry not known to be delivered, to its topic and to
    each route still owed it; return how many sends.

    Deliveries this process saw done are skipped; the rest (after a crash, or from a
    partition another worker had) go out again, possibly twice in all: at least once
    (receivers drop repeats by X-ABM-Alert-Id).
    """
    sent = 0
    for state in states:
        for entry in _owed(worker, state.outbox):
            output = _output_of(entry)
            sent += await _deliver(worker, state.account_id, entry, output, fresh=False)
    return sent


_MODELS: dict[str, type[Output]] = {
    TIER_CHANGE: TierChange,
    STAGE_CHANGE: StageChange,
    SURGE_ALERT: SurgeAlert,
    ALERT_OUTCOME: AlertOutcome,
}


def _output_of(entry: OutboxEntry) -> Output:
    return _MODELS[entry.kind].model_validate_json(entry.value)


def store_campaign(worker: WorkerContext, effect: Effect) -> None:
    """A campaign's spend record: stored and counted, nothing to publish."""
    if not effect.write:
        return
    state = effect.state
    worker.states.put(worker.campaigns, state.account_id, state, state.partition)
    worker.view.mark_campaign(state)
    advance(worker.stream_time, state.partition, state.clock)


async def reject_output(
    worker: WorkerContext, item: Delivery, reason: DeadLetterReason, error: str, route: str
) -> None:
    """An output a route could not take: dead-lettered whole (with the route), so it can
    be re-sent."""
    topics = worker.settings.topics
    source = topics.surge_alerts if isinstance(item, SurgeAlert) else topics.tier_changes
    key = item.account_id.encode()
    value = item.model_dump_json().encode()
    record = dead_letter(source, None, key, value, Rejected(reason, error), now_ms(), route)
    await _send(worker, record, key)


async def reject(
    worker: WorkerContext, coords: Coords, key: bytes | None, value: bytes | None, why: Rejected
) -> None:
    await _send_dead_letter(worker, coords.topic, coords, key, value, why)


async def _send_dead_letter(
    worker: WorkerContext,
    source: str,
    where: Coords | None,
    key: bytes | None,
    value: bytes | None,
    why: Rejected,
) -> None:
    await _send(worker, dead_letter(source, where, key, value, why, now_ms()), key)


async def _send(worker: WorkerContext, record: DeadLetter, key: bytes | None) -> None:
    """Send a dead letter; one that cannot be sent is logged and counted, and its input
    acknowledged all the same: a record that can be neither applied nor dead-lettered
    must not stop its partition."""
    worker.metrics.dead_letters[record.reason].inc()
    worker.metrics.outputs["dead_letter"].inc()
    bounded = None if key is None else key[:DEAD_LETTER_KEY_BYTES]
    try:
        await worker.dead_letter.send(key=bounded, value=record.model_dump_json())
    except Exception:
        worker.metrics.dead_letters_lost.inc()
        log.exception(
            "cannot dead-letter a record of %s[%s]@%s (%s bytes, sha256 %s); skipped",
            record.source_topic,
            record.partition,
            record.offset,
            record.value_bytes,
            record.value_sha256,
        )


def register_webhooks(worker: WorkerContext) -> None:
    """Each route's senders start with the app; at shutdown (producer still up) every
    route's queue is drained, all at once."""
    for sink in worker.webhooks:
        worker.app.task(sink.run)

    @worker.app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's handler type
    async def drain_webhooks(app: Any, **kwargs: Any) -> None:
        grace = worker.settings.webhook.timeout_s
        await asyncio.gather(*(sink.drain(grace_s=grace) for sink in worker.webhooks))
