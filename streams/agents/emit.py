"""Publishing results: tier changes and alerts keyed by account, dead letters as their source."""

import logging
import time
from datetime import UTC, datetime

from schemas.outputs import DeadLetter, DeadLetterReason, SurgeAlert, TierChange
from streams.logic.apply import Applied
from streams.logic.decode import Coords, Rejected, dead_letter
from streams.pipeline import Pipeline

__all__ = ["commit", "commit_campaign", "reject", "reject_alert"]

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


async def commit(p: Pipeline, applied: Applied) -> None:
    """Store the state (one changelog record), mark the view, publish any tier change."""
    if not applied.write:
        return
    state = applied.state
    p.accounts[state.account_id] = state
    p.view.mark(state)
    if state.partition is not None:
        p.advance(state.partition, state.clock)
    if applied.change is not None:
        await publish_change(p, applied.change)
    for alert in applied.alerts:
        await publish_alert(p, alert)


def commit_campaign(p: Pipeline, applied: Applied) -> None:
    """A campaign's spend record: stored and counted, nothing to publish."""
    if not applied.write:
        return
    state = applied.state
    p.campaigns[state.account_id] = state
    p.view.mark_campaign(state)
    if state.partition is not None:
        p.advance(state.partition, state.clock)


async def publish_change(p: Pipeline, change: TierChange) -> None:
    await p.tier_changes.send(key=change.account_id.encode(), value=change.model_dump_json())


async def publish_alert(p: Pipeline, alert: SurgeAlert) -> None:
    """The topic first (the record of truth), then the Redis mirror and the webhook queue."""
    await p.surge_alerts.send(key=alert.account_id.encode(), value=alert.model_dump_json())
    p.view.alert(alert)
    if p.webhook is not None and not p.webhook.offer(alert):
        await reject_alert(p, alert, DeadLetterReason.WEBHOOK_OVERFLOW, "webhook queue full")


async def reject_alert(
    p: Pipeline, alert: SurgeAlert, reason: DeadLetterReason, error: str
) -> None:
    """An alert the webhook could not take: dead-lettered whole, so it can be re-sent."""
    record = DeadLetter(
        source_topic=p.settings.topics.surge_alerts,
        partition=None,
        offset=None,
        key=alert.account_id,
        value=alert.model_dump_json(),
        encoding="utf-8",
        reason=reason,
        error=error[:2000],
        failed_at=datetime.now(UTC),
    )
    await p.dead_letter.send(key=alert.account_id.encode(), value=record.model_dump_json())


async def reject(
    p: Pipeline, coords: Coords, key: bytes | None, value: bytes | None, why: Rejected
) -> None:
    record = dead_letter(coords, key, value, why, now_ms())
    await p.dead_letter.send(key=key, value=record.model_dump_json())
