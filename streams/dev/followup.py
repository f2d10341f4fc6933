"""The synthetic world's sellers answering the alerts its history raises, as they fire.

The world makes rows and the rules make alerts, so which alerts there are (and which are
held out) is for the rules to say, on the very rows that are sent. The history is taken
record by record by the pure replay engine (the live worker's decisions, without Faust)
under the rules the worker runs; each alert the engine raises gets the world's answer
(`World.follow_up`), whose rows join the history at their event time and are taken in
turn, so an answer, which moves its account's clock, is part of what decides the next
alerts. One pass, and the rows come out in the order to send them.

The live worker sees the same rows but can still decide a few alerts otherwise: its
timer ticks at each partition's stream time, where the engine ticks each account at its
own due moment, and here every account shares one partition. A demo can live with a few
alerts answered that the worker raised a little differently, or not at all.
"""

import heapq
from collections.abc import Iterable

import orjson

from streams.clients.produce_tail import owner_key
from streams.dev.synth import Row, World
from streams.logic.inputs.decode import Coords, InputKind, Rejected
from streams.logic.inputs.records import decode_record
from streams.replay.engine import Item, Replay

__all__ = ["answered_history"]


def answered_history(world: World, engine: Replay, setup: Iterable[Row]) -> list[Row]:
    """`world`'s history with its sellers' answers to the alerts `engine` raises on it,
    in the order to send them (the rows from the end of history on are left out).
    `setup` (profiles, rosters: what is sent before the history) is taken first and not
    returned; `engine` keeps what it decided, for a report."""
    taken = 0
    for row in setup:
        _feed(engine, row, taken)
        taken += 1
    due: list[tuple[int, int, Row]] = []  # answers to come: by time, then as made
    made, heard, out = 0, len(engine.alerts), []

    def take(row: Row) -> None:
        nonlocal taken, made, heard
        _feed(engine, row, taken)
        taken += 1
        out.append(row)
        for alert in engine.alerts[heard:]:
            for answer in world.follow_up(alert):
                if answer[1]["occurred_at"] < world.end:
                    heapq.heappush(due, (answer[1]["occurred_at"], made, answer))
                    made += 1
        heard = len(engine.alerts)

    for row in world.history():
        while due and due[0][0] <= row[1]["occurred_at"]:
            take(heapq.heappop(due)[2])
        take(row)
    while due:
        take(heapq.heappop(due)[2])
    return out


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
