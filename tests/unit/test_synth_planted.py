"""The pattern planted in the demo's world for `abm tune` (synth.Segment), read back from
the rows the world sends, as the engine would read them: German accounts above the
revenue bar, on days after a decision maker on their roster did something worth points,
open opportunities far more often than anyone else; and no other account, on no other
day, gets a single opportunity more from it.

Everything is recomputed from the rows (profiles, rosters classified by the default
persona rules, engagement weighed by the default weights, each opportunity's first stage
event), not read from the world's own bookkeeping. The demo's world, seed fixed."""

from collections import defaultdict
from functools import cache
from typing import Any

import orjson

from schemas.inputs import Action
from streams.dev.synth import DAILY, Row, Segment, World
from streams.logic.rules import Rules
from streams.logic.signals.committee import classify

END = 1_767_225_600_000
"""2026-01-01T00:00Z: the history's last day ends here."""
DAY = 86_400_000
WINDOW = Rules().engagement_window_days


@cache
def rows(planted: bool) -> tuple[World, tuple[Row, ...]]:
    """The demo's world (2000 accounts, 60 days), with the pattern or without it."""
    segment = Segment() if planted else None
    world = World(seed=7, accounts=2000, days=60, end=END, segment=segment)
    return world, (*world.profiles(), *world.rosters(), *world.history())


def _segment(rows: tuple[Row, ...]) -> set[str]:
    """The accounts whose profile is the segment's: country and revenue."""
    shape = Segment()
    return {
        p["account_id"]
        for kind, p in rows
        if kind == "accounts"
        and p["country"] == shape.country
        and p["annual_revenue"] >= shape.min_revenue
    }


def _held(rows: tuple[Row, ...], start: int) -> dict[str, set[int]]:
    """Per account, the days (from `start`) after one on which a contact its roster
    titles a decision maker (default persona rules) did something worth points (default
    weights), within the engagement window: when the engine, at the day before's end,
    sees the decision maker engaged."""
    rules = Rules()
    deciders = {
        c["contact_id"]
        for kind, p in rows
        if kind == "contacts"
        for c in p["contacts"]
        if classify(c["title"], None, c["seniority"], rules) == "decision_maker"
    }
    held: dict[str, set[int]] = defaultdict(set)
    for kind, p in rows:
        if kind != "engagement" or p["contact_id"] not in deciders:
            continue
        if rules.weights.get(Action(p["action"]), 0) <= 0:
            continue
        day = (p["occurred_at"] - start) // DAY
        held[p["account_id"]].update(range(day + 1, day + 1 + WINDOW))
    return held


def _opened(rows: tuple[Row, ...], start: int) -> dict[tuple[str, str], tuple[int, Any]]:
    """Each opportunity opened in the history: its first stage event's day (from `start`)
    and that event."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, p in rows:
        if kind != "deals":
            continue
        key = (p["account_id"], p["opportunity_id"])
        if key not in first or p["occurred_at"] < first[key]["occurred_at"]:
            first[key] = p
    return {
        key: ((p["occurred_at"] - start) // DAY, p)
        for key, p in first.items()
        if p["occurred_at"] >= start  # not the backfill of the year before
    }


def test_the_segment_opens_opportunities_far_more_often_when_its_decision_maker_engaged():
    world, sent = rows(planted=True)
    segment, held = _segment(sent), _held(sent, world.start)
    days = world.days  # the history's days (its end is a day's start)
    opened = _opened(sent, world.start)
    planted_days = sum(len(held[a] & set(range(days))) for a in segment)
    planted_opps = sum(day in held[a] for (a, _), (day, _) in opened.items() if a in segment)
    rest_days = world.accounts * days - planted_days
    rest_opps = len(opened) - planted_opps
    assert planted_days > 300, planted_days  # the segment is engaged often enough to count
    rate, rest = planted_opps / planted_days, rest_opps / rest_days
    # DAILY * factor (6%) and what the accounts open anyway, against under 1% a day.
    assert rate > 0.6 * DAILY * Segment().factor, (planted_opps, planted_days)
    assert rate > 4 * rest, (rate, rest)
    # Outside those days the segment's accounts open no more than the others do.
    other_days = len(segment) * days - planted_days
    other_opps = sum(a in segment for a, _ in opened) - planted_opps
    assert other_opps / other_days < 2 * rest, (other_opps, other_days, rest)


def test_the_pattern_adds_opportunities_only_where_it_says_and_changes_nothing_else():
    """The world without the pattern is the world with it less the opportunities it adds:
    each of an account of the segment, opened on a day it held."""
    world, sent = rows(planted=True)
    _, without = rows(planted=False)
    before = {orjson.dumps(row, option=orjson.OPT_SORT_KEYS) for row in without}
    added = [row for row in sent if orjson.dumps(row, option=orjson.OPT_SORT_KEYS) not in before]
    assert [row for row in sent if row not in added] == list(without)
    assert {kind for kind, _ in added} == {"deals"}
    segment, held = _segment(sent), _held(sent, world.start)
    opened = _opened(sent, world.start)
    new = {(p["account_id"], p["opportunity_id"]) for _, p in added}
    assert len(new) >= 20, len(new)
    for key in new:
        account, _ = key
        day, first = opened[key]
        assert account in segment, first  # its country, revenue at or above the bar
        assert day in held[account], first  # its decision maker engaged in the window
    # ... though decision makers engaged elsewhere too: in the country below the bar, and
    # above the bar in other countries.
    profiles = {p["account_id"]: p for kind, p in sent if kind == "accounts"}
    engaged = {a for a, days in held.items() if days and a not in segment}
    shape = Segment()
    assert sum(profiles[a]["country"] == shape.country for a in engaged) >= 10
    assert sum(profiles[a]["annual_revenue"] >= shape.min_revenue for a in engaged) >= 100
