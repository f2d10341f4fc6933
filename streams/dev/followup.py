"""The synthetic world's sellers answering the alerts its history raises, as they fire.

The world makes rows and the rules make alerts, so which alerts there are (and which are
held out) is for the rules to say, on the very rows that are sent. The history is taken
record by record by the pure replay engine (the live worker's decisions, without Faust)
under the rules the worker runs; each alert the engine raises gets the world's answer
(`World.follow_up`), whose rows join the history at their event time and are taken in
turn, so an answer, which moves its account's clock, is part of what decides the next
alerts.

The rows come out a week at a time, for the worker to take a week before the next is
sent: it reads each topic at its own pace, and an answer it read before it had raised the
alert would answer nothing (an alert is watched from when it is raised). So a week's
answers go with the next week's history, once the worker has taken the week they answer
(still well within the month an alert is watched). Even so the worker decides a few
alerts otherwise than the engine did: within a week its topics interleave in another
order, its timer ticks at each partition's stream time where the engine ticks each
account at its own due moment, and an answer reaches it after events the engine took
after it. A demo can live with a few alerts answered that the
worker raised a little differently, or not at all.
"""

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator

import orjson

from streams.clients.produce_tail import owner_key
from streams.dev.synth import DAY, Row, World
from streams.logic.inputs.decode import Coords, InputKind, Rejected
from streams.logic.inputs.records import decode_record
from streams.replay.engine import Item, Replay

__all__ = ["BATCH_DAYS", "answered_history"]

BATCH_DAYS = 7
"""Days of history in a batch. Each batch waits for the worker to take the one before, and
every wait costs the load a second or two: the demo's 60 days took ~90 s a week at a time,
~120 s a day at a time, ~65 s all at once (but then the worker, its topics far apart,
raised half the alerts and saw 37% of them answered, against ~80% a week at a time)."""


def answered_history(
    world: World, engine: Replay, setup: Iterable[Row], history: Iterable[Row]
) -> Iterator[list[Row]]:
    """`history` (the world's, in event-time order) and the world's sellers' answers to
    the alerts `engine` raises on it, in batches to send one after another: BATCH_DAYS
    of history with the answers dated in the batch before (the answers dated from the end of
    history on are left out). `setup` (profiles, rosters: sent before the history) is
    taken first, and not yielded. Each batch is made as it is asked for, so a sender can
    make the next while the worker takes the last; `engine` keeps what it decided."""
    taken = 0
    for row in setup:
        _feed(engine, row, taken)
        taken += 1
    due: list[tuple[int, int, Row]] = []  # answers to come: by time, then as made
    batches: defaultdict[int, list[Row]] = defaultdict(list)
    made = yielded = 0
    heard = len(engine.alerts)

    def take(row: Row, answer: bool) -> None:
        nonlocal taken, made, heard
        _feed(engine, row, taken)
        taken += 1
        batches[max(_batch(world, row) + int(answer), yielded)].append(row)
        for alert in engine.alerts[heard:]:
            for reply in world.follow_up(alert):
                if reply[1]["occurred_at"] < world.end:
                    heapq.heappush(due, (reply[1]["occurred_at"], made, reply))
                    made += 1
        heard = len(engine.alerts)

    for row in history:
        while due and due[0][0] <= row[1]["occurred_at"]:
            take(heapq.heappop(due)[2], answer=True)
        take(row, answer=False)
        while yielded < _batch(world, row):  # the batches before this one are complete
            if batch := batches.pop(yielded, None):
                yield batch
            yielded += 1
    while due:
        take(heapq.heappop(due)[2], answer=True)
    for index in sorted(batches):
        yield batches[index]


def _batch(world: World, row: Row) -> int:
    """The batch of history a row is dated in (a backfill from before it: the first)."""
    return max(0, (row[1]["occurred_at"] - world.start) // (BATCH_DAYS * DAY))


def _feed(engine: Replay, row: Row, offset: int) -> None:
    """One row as the worker's ingest takes it: decoded from its bytes, dated now."""
    name, payload = row
    kind = InputKind(name)
    coords = Coords(kind, 0, offset, engine.wall_now)
    try:
        record = decode_record(kind, owner_key(payload), orjson.dumps(payload))
    except Rejected as why:
        engine.feed(Item(kind, coords, 0, rejected=why))
        return
    at = payload.get("occurred_at", 0)
    engine.feed(Item(kind, coords, at, record, owner=record.owner))
