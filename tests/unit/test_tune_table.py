"""The runs of one pass equal a measurement of every account on every day.

The reference replays the history up to each day's end, from scratch, and measures every
account there: no runs, no skipped days. The history is sent in event-time order (profiles
and rosters first), as the runs measure what had arrived by each day's end."""

import asyncio

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.clients.produce_tail import owner_key
from streams.config import Settings
from streams.logic.inputs.decode import Coords, InputKind
from streams.logic.inputs.records import AccountInput, decode_record
from streams.logic.rules import Rules
from streams.replay.engine import Item, Replay
from streams.tune import recording
from streams.tune.table import measured_at, record
from tests.factories import WALL
from tests.history import DAY, generate, write_jsonl

RULES = Rules()
END = WALL - 30 * DAY


def items_of(rows):
    timeless = [r for r in rows if "occurred_at" not in r[1]]
    timed = sorted((r for r in rows if "occurred_at" in r[1]), key=lambda r: r[1]["occurred_at"])
    out = []
    for offset, (name, payload) in enumerate([*timeless, *timed]):
        kind = InputKind(name)
        decoded = decode_record(kind, owner_key(payload), orjson.dumps(payload))
        at = payload.get("occurred_at", 0)
        out.append(Item(kind, Coords(kind, 0, offset, END), at, decoded, owner=decoded.owner))
    return out


def test_runs_are_every_days_measurement():
    rows = generate(7, accounts=12, days=60, end=END)
    items = items_of(rows)
    start, last = min(it.at for it in items if it.at) // DAY, max(it.at for it in items) // DAY
    table = record(items, RULES, WALL, start, last + 3)
    got = {}
    for run in table.runs:
        for day in range(run.first_day, run.first_day + run.days):
            assert (run.account, day) not in got, "runs of an account do not overlap"
            got[run.account, day] = run.measured
    first_day = min(day for _, day in got)
    # From the first day for an account made by its profile, else from its first event.
    began = {p["account_id"]: start for kind, p in rows if kind == "accounts"}
    for item in items:
        if item.at and isinstance(item.record, AccountInput):  # not a campaign's spend
            began.setdefault(item.owner, item.at // DAY)
    assert {(a, d) for a, first in began.items() for d in range(first, last + 3)} == set(got)
    assert len(table.runs) < len(got), "some runs cover several days"
    for day in range(first_day, last + 3):
        engine = Replay(RULES, WALL)
        for item in items:
            if item.at // DAY <= day:
                engine.feed(item)
        for account, state in engine.accounts.items():
            if (account, day) in got:
                want, _ = measured_at(state, RULES, engine.rosters, day)
                assert got[account, day] == want, (account, day)
    opened = {}
    for kind, p in rows:
        if kind == "deals":
            key = (p["account_id"], p["opportunity_id"])
            opened[key] = min(opened.get(key, p["occurred_at"]), p["occurred_at"])
    assert table.created() == {
        a: sorted(at for (b, _), at in opened.items() if b == a) for a, _ in opened
    }
    assert set(table.profiles) == {p["account_id"] for kind, p in rows if kind == "accounts"}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 12))
def test_shards_record_what_one_process_records(tmp_path_factory, seed, accounts):
    """Two processes, each recording its partitions' accounts, give one process's table:
    the same runs (a profile-made account's from the history's start, which one shard
    alone does not know), profiles and opportunities."""
    directory = write_jsonl(tmp_path_factory.mktemp("history"), generate(seed, accounts, 45, END))
    one, two = (
        asyncio.run(recording.record(Settings(), RULES, directory, WALL, workers))
        for workers in (1, 2)
    )
    assert one.runs, "a history with days to compare"
    assert sorted(two.runs, key=_at) == sorted(one.runs, key=_at)
    assert (two.profiles, two.opened, two.latest, two.profiled) == (
        one.profiles,
        one.opened,
        one.latest,
        one.profiled,
    )


def _at(run):
    return run.account, run.first_day
