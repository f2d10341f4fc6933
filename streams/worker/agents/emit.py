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

from schemas.outputs import DeadLetter, DeadLetterReason, SurgeAlert, TierChange
from streams.logic.apply import Applied
from streams.logic.decode import Coords, Rejected, dead_letter
from streams.logic.notify import Delivery
from streams.logic.routes import tier_up
from streams.logic.state import STAGE_CHANGE, SURGE_ALERT, TIER_CHANGE, AccountState
from streams.logic.ticks import advance, track_due
from streams.worker.context import WorkerContext

__all__ = [
    "commit",
    "commit_campaign",
    "register_webhooks",
    "reject",
    "reject_output",
    "resend_outboxes",
    "route",
]

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


async def commit(p: WorkerContext, applied: Applied) -> None:
    """Store the state and its outbox (one changelog record), mark the view, publish."""
    if not applied.write:
        return
    state = applied.state
    if applied.removed:
        await _remove(p, applied)
        return
    if state.outbox:
        state.outbox = [entry for entry in state.outbox if entry[0] not in p.delivered]
    new = [
        [f"a:{alert.alert_id}", SURGE_ALERT, alert.model_dump_json()] for alert in applied.alerts
    ]
    if applied.stage_change is not None:
        moved = applied.stage_change
        entry_id = f"s:{moved.account_id}:{moved.version}"
        new.insert(0, [entry_id, STAGE_CHANGE, moved.model_dump_json()])
    if applied.change is not None:
        change = applied.change
        entry_id = f"c:{change.account_id}:{change.version}"
        new.insert(0, [entry_id, TIER_CHANGE, change.model_dump_json()])
    state.outbox.extend(new)
    p.states.put(p.accounts, state.account_id, state, state.partition)
    track_due(p.due, state.account_id, state.due_at, state.partition)
    p.view.mark(state)
    advance(p.stream_time, state.partition, state.clock)
    for entry in new:
        await send_entry(p, state.account_id, entry)
    if applied.change is not None:
        p.view.change(applied.change)
    for alert in applied.alerts:
        alert_sinks(p, alert)
        await route(p, alert, alert.kind, alert.owner, alert.tier, alert.cluster)
    change = applied.change
    if change is not None and p.webhooks and tier_up(change.previous_tier, change.tier):
        owner = state.profile.owner if state.profile else None
        await route(p, change, "tier_up", owner, change.tier, None)


async def _remove(p: WorkerContext, applied: Applied) -> None:
    """The account's last changes go out, then its state, due entry and view go.

    No outbox: it would live in the record being deleted. The changes are sent before
    the state's tombstone is stored, and the tombstone record is acknowledged only after
    that (write-behind): a crash before then re-applies the removal to the stored state
    and sends the same changes (same versions) again.
    """
    state = applied.state
    final = (("c", TIER_CHANGE, applied.change), ("s", STAGE_CHANGE, applied.stage_change))
    for prefix, kind, output in final:
        if output is not None:
            entry_id = f"{prefix}:{state.account_id}:{output.version}"
            await send_entry(p, state.account_id, [entry_id, kind, output.model_dump_json()])
    if applied.change is not None:
        p.view.change(applied.change)
    p.states.delete(p.accounts, state.account_id, state.partition)
    track_due(p.due, state.account_id, None, state.partition)
    p.view.remove(state.account_id, state.partition)


async def route(
    p: WorkerContext, item: Delivery, kind: str, owner: str | None, tier: int, cluster: str | None
) -> None:
    """Offer an output to every route it matches; a full queue dead-letters it there."""
    for sink in p.webhooks:
        if sink.route.matches(kind, owner, tier, cluster) and not sink.offer(item):
            error = f"route {sink.name}: queue full"
            await reject_output(p, item, DeadLetterReason.WEBHOOK_OVERFLOW, error, sink.name)


async def send_entry(p: WorkerContext, account_id: str, entry: list[str]) -> None:
    """Send one outbox entry; remember it as delivered once the broker acknowledges it."""
    entry_id, kind, value = entry
    topic = {TIER_CHANGE: p.tier_changes, STAGE_CHANGE: p.stage_changes}.get(kind, p.surge_alerts)
    p.metrics.outputs[kind].inc()
    future = await topic.send(key=account_id.encode(), value=value.encode())

    def acknowledged(done: asyncio.Future) -> None:
        if not done.cancelled() and done.exception() is None:
            p.delivered.add(entry_id)
            p.crash.passed("output-delivered")

    future.add_done_callback(acknowledged)


def alert_sinks(p: WorkerContext, alert: SurgeAlert) -> None:
    """Beside the topic: the Redis mirror (idempotent by alert_id)."""
    p.view.alert(alert)


async def resend_outboxes(p: WorkerContext, states: list[AccountState]) -> int:
    """After recovery: re-send every entry not known to be delivered; return how many.

    Entries this process saw acknowledged are skipped; the rest (after a crash, or from a
    partition another worker had) go out again, possibly twice in all: at least once.
    """
    sent = 0
    for state in states:
        for entry in state.outbox:
            if entry[0] in p.delivered:
                continue
            await send_entry(p, state.account_id, entry)
            if entry[1] == SURGE_ALERT:
                alert_sinks(p, SurgeAlert.model_validate_json(entry[2]))
            elif entry[1] == TIER_CHANGE:
                p.view.change(TierChange.model_validate_json(entry[2]))
            sent += 1
    return sent


def commit_campaign(p: WorkerContext, applied: Applied) -> None:
    """A campaign's spend record: stored and counted, nothing to publish."""
    if not applied.write:
        return
    state = applied.state
    p.states.put(p.campaigns, state.account_id, state, state.partition)
    p.view.mark_campaign(state)
    advance(p.stream_time, state.partition, state.clock)


async def reject_output(
    p: WorkerContext, item: Delivery, reason: DeadLetterReason, error: str, route: str
) -> None:
    """An output a route could not take: dead-lettered whole (with the route), so it can
    be re-sent."""
    topics = p.settings.topics
    source = topics.surge_alerts if isinstance(item, SurgeAlert) else topics.tier_changes
    key = item.account_id.encode()
    value = item.model_dump_json().encode()
    record = dead_letter(source, None, key, value, Rejected(reason, error), now_ms(), route)
    await _send(p, record, key)


async def reject(
    p: WorkerContext, coords: Coords, key: bytes | None, value: bytes | None, why: Rejected
) -> None:
    await _send_dead_letter(p, coords.topic, coords, key, value, why)


async def _send_dead_letter(
    p: WorkerContext,
    source: str,
    where: Coords | None,
    key: bytes | None,
    value: bytes | None,
    why: Rejected,
) -> None:
    await _send(p, dead_letter(source, where, key, value, why, now_ms()), key)


async def _send(p: WorkerContext, record: DeadLetter, key: bytes | None) -> None:
    p.metrics.dead_letters[record.reason].inc()
    p.metrics.outputs["dead_letter"].inc()
    await p.dead_letter.send(key=key, value=record.model_dump_json())


def register_webhooks(p: WorkerContext) -> None:
    """Each route's senders start with the app; at shutdown (producer still up) every
    route's queue is drained, all at once."""
    for sink in p.webhooks:
        p.app.task(sink.run)

    @p.app.on_before_shutdown.connect
    async def drain_webhooks(app: object, **kwargs: object) -> None:
        grace = p.settings.webhook.timeout_s
        await asyncio.gather(*(sink.drain(grace_s=grace) for sink in p.webhooks))
