"""Time passing: a timer finds accounts whose windows have dropped data and ticks them.

Each round ticks at most `tick_max_per_s` x `tick_interval_s` accounts (logic/ticks.py:
the daily burst at 00:00 UTC is spread over rounds instead of stalling live events).
Faust tables can only be written while processing a record of a co-partitioned topic,
so the timer does not touch state itself: it sends a tick for each due account to the
internal clock topic, on the partition that holds the account's state, and the tick
agent re-tiers it like any other event. Ticks are idempotent: a repeated tick finds the
account no longer due.
"""

import time

import orjson

from streams.logic.inputs.apply import apply_tick
from streams.logic.state.ticks import due_now, pick_due
from streams.worker.agents.emit import store_and_send
from streams.worker.agents.watchdog import note_read
from streams.worker.context import WorkerContext
from streams.worker.survive import survive

__all__ = ["register_clock"]


def _now(worker: WorkerContext, partition: int) -> int | None:
    """'Now' for a partition: its newest event time, or at least the wall clock if so set."""
    event_now = worker.stream_time.get(partition)
    if worker.settings.clock == "event":
        return event_now
    return max(int(time.time() * 1000), event_now or 0)


def register_clock(worker: WorkerContext) -> None:
    app, clock_topic = worker.app, worker.clock

    settings = worker.settings
    budget = max(1, int(settings.tick_max_per_s * settings.tick_interval_s))

    @app.timer(interval=settings.tick_interval_s, name="tick-due-accounts")
    @survive("tick-due-accounts", worker.metrics.task_errors)
    async def tick_due_accounts() -> None:
        now = {
            tp.partition: at
            for tp in app.consumer.assignment()
            if tp.topic == clock_topic.get_topic_name()
            and (at := _now(worker, tp.partition)) is not None
        }
        for account_id, partition, _ in pick_due(worker.due, now, budget):
            at = due_now(worker.due.get(account_id), now)  # again: the sends let events move it
            if at is None:
                continue
            # Out of the index until the tick is applied (its write puts the account
            # back, at the end): a worker behind its ticks must not pile up more of them.
            del worker.due[account_id]
            await clock_topic.send(
                key=account_id.encode(), value=orjson.dumps({"now": at}), partition=partition
            )

    ticks = worker.metrics.ticks

    @app.agent(clock_topic, name="retier-on-tick")
    async def retier_on_tick(stream) -> None:  # noqa: ANN001 - faust stream
        async for event in stream.noack().events():  # acked once stored: write_behind
            note_read(worker, event.message.tp, event.message.offset)
            state = worker.states.get(worker.accounts, event.key.decode())
            if state is not None:
                now = orjson.loads(event.value)["now"]
                await store_and_send(
                    worker, apply_tick(state, worker.rules, now, worker.store.rosters)
                )
                ticks.inc()
            await worker.states.hold(event)
