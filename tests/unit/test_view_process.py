"""The view process's hand-over of the output topics at a rebalance (no broker: the
consumer is made, never started)."""

import asyncio

from streams.config import Settings
from streams.view.process import ViewProcess
from tests.factories import DAY, T0, intent, profile, replay


def test_outputs_read_before_a_rebalance_are_left_to_their_next_owner():
    """Alerts and changes read since the last flush are not written after the partitions
    are revoked: their next owner reads them again from the committed offsets, and a
    change written by both would enter the stream twice."""
    _, changes, alerts = replay(
        [profile(), *(intent(at=T0 + d * DAY, score=95.0, event_id=f"i{d}") for d in range(30))]
    )
    assert changes
    assert alerts

    async def revoked() -> tuple[list, list]:
        process = ViewProcess(Settings())
        for change in changes:
            process.view.change(change)
        for alert in alerts:
            process.view.alert(alert)
        await process.on_partitions_revoked([])
        await process.view.close()
        await process.consumer.stop()
        return process.view.alerts, process.view.changes

    assert asyncio.run(revoked()) == ([], [])
