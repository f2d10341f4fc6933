"""Publishing results: tier changes keyed by account, dead letters keyed as their source."""

import logging
import time

from schemas.outputs import TierChange
from streams.logic.apply import Applied
from streams.logic.decode import Coords, Rejected, dead_letter
from streams.pipeline import Pipeline

__all__ = ["commit", "reject"]

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


async def publish_change(p: Pipeline, change: TierChange) -> None:
    await p.tier_changes.send(key=change.account_id.encode(), value=change.model_dump_json())


async def reject(
    p: Pipeline, coords: Coords, key: bytes | None, value: bytes | None, why: Rejected
) -> None:
    record = dead_letter(coords, key, value, why, now_ms())
    await p.dead_letter.send(key=key, value=record.model_dump_json())
