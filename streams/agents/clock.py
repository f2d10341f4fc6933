"""Time passing: a timer finds accounts whose windows have dropped data and ticks them.

Faust tables can only be written while processing a record of a co-partitioned topic,
so the timer does not touch state itself: it sends a tick for each due account to the
internal clock topic, on the partition that holds the account's state, and the tick
agent re-tiers it like any other event. Ticks are idempotent: a repeated tick finds the
account no longer due.
"""

import time

import orjson

from streams.agents.emit import commit
from streams.agents.watchdog import note_read
from streams.logic.apply import apply_tick
from streams.pipeline import Pipeline

__all__ = ["register_clock"]


def _now(p: Pipeline, partition: int) -> int | None:
    """'Now' for a partition: its newest event time, or at least the wall clock if so set."""
    event_now = p.stream_time.get(partition)
    if p.settings.clock == "event":
        return event_now
    return max(int(time.time() * 1000), event_now or 0)


def register_clock(p: Pipeline) -> None:
    app, clock_topic = p.app, p.clock

    @app.timer(interval=p.settings.tick_interval_s, name="tick-due-accounts")
    async def tick_due_accounts() -> None:
        owned = {
            tp.partition
            for tp in app.consumer.assignment()
            if tp.topic == clock_topic.get_topic_name()
        }
        for account_id in list(p.due):
            entry = p.due.get(account_id)  # read again: sends below let events move it
            if entry is None or entry[1] not in owned:
                continue
            due_at, partition = entry
            now = _now(p, partition)
            if now is not None and now >= due_at:
                # Out of the index until the tick is applied (its write puts the account
                # back): a worker behind its ticks must not pile up more of them.
                del p.due[account_id]
                await clock_topic.send(
                    key=account_id.encode(), value=orjson.dumps({"now": now}), partition=partition
                )

    @app.agent(clock_topic, name="retier-on-tick")
    async def retier_on_tick(stream) -> None:  # noqa: ANN001 - faust stream
        async for event in stream.noack().events():  # acked once stored: write_behind
            note_read(p, event.message.tp, event.message.offset)
            state = p.states.get(p.accounts, event.key.decode())
            if state is not None:
                now = orjson.loads(event.value)["now"]
                await commit(p, apply_tick(state, p.rules, now))
            await p.states.hold(event)
