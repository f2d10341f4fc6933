"""The figures the table gives a rule set equal those read back from the tier changes a
real replay of the same files emits under it: per account-day, both periods, any rules.

This is what `abm tune` checks of the tuned rules on every run (its report's
`replay_matches`); here over random histories (intent, engagement, deals, rosters,
profiles arriving before and after events) and random rule tables."""

import asyncio
import os

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.config import Settings
from streams.logic.rules import Rules
from streams.replay.engine import Replay
from streams.replay.sources import file_items
from streams.tune.replayed import replayed_tiers
from streams.tune.score import cut, figures, figures_of, label
from streams.tune.table import Recorder
from tests.factories import WALL
from tests.history import DAY, generate, write_jsonl
from tests.tune_tools import rule_sets

END = WALL - 20 * DAY


async def items(directory):
    chunks, _ = file_items(Settings(), directory)
    return [item async for chunk in chunks for item in chunk]


@settings(max_examples=25, deadline=None)
@example(5, Rules(), 10, 20, True)  # the default tiers tier a profile alone
@example(5, Rules(), 10, 20, False)
@given(st.integers(0, 10_000), rule_sets, st.integers(5, 40), st.integers(5, 60), st.booleans())
def test_the_replays_tiers_give_the_tables_figures(
    tmp_path_factory, seed, rules, split, horizon, profiles_later
):
    directory = write_jsonl(tmp_path_factory.mktemp("history"), generate(seed, 10, 50, END))
    # A profile's only time is its record's (a file's: when it was written): before
    # the history's events, or after them as for a history written today.
    written = (END + 30 * DAY if profiles_later else END - 90 * DAY) / 1000
    os.utime(directory / "accounts.jsonl", (written, written))
    history = asyncio.run(items(directory))
    recorder, replay = Recorder(rules, WALL), Replay(rules, WALL)
    for item in history:
        recorder.feed(item)
        replay.feed(item)
    replay.finish()
    table = recorder.finish()
    first = min(run.first_day for run in table.runs)
    end = max(run.first_day + run.days for run in table.runs)
    runs = cut(table.runs, first + split)
    created = table.created()
    labelled = label(runs, created, rules, horizon)
    changes = [orjson.loads(orjson.dumps(c.model_dump(mode="json"))) for c in replay.changes]
    changes.sort(key=lambda c: c["account_id"])  # grouped by account, each in its order
    pieces, tiers = replayed_tiers(runs, changes, table.profiled)
    again = label(pieces, created, rules, horizon)
    for period in ((first, first + split), (first + split, end), None):
        assert figures(labelled, rules, period) == figures_of(again, tiers, period)
