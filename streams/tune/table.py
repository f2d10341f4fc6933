"""One pass over history: what each account measured, day by day, as runs of days.

An account's measurements change only when an event lands or a window drops a day (its
`Signals.due_at`), so each account is measured at the end of each day it had events and
at each day a window moves, and a measurement holds until the next: a run. A year of
10,000 accounts is then a few rows per account and active day, not 3.65 million.

Measured at a day's end, after the day's events as they arrived: the tier an account
stood in that day (windows are whole days, so any moment of the day after its last event
reads the same), which is what the live worker decided then.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import Any

from schemas.common import to_ms
from schemas.inputs import AccountProfile, DealEvent
from streams.logic.inputs.decode import InputKind
from streams.logic.inputs.records import AccountInput
from streams.logic.rules import Rules
from streams.logic.signals.aggregates import aggregate
from streams.logic.signals.committee import persona_counts
from streams.logic.signals.tiering import measure
from streams.logic.state.opportunities import WON
from streams.logic.state.roster import Rosters
from streams.logic.state.state import AccountState
from streams.logic.state.windows import DAY_MS, day_of
from streams.replay.engine import Item, Replay
from streams.replay.erasures import ErasurePlan
from streams.tune.columns import Measured

__all__ = ["Part", "Recorder", "Run", "Table", "assemble", "measured_at", "record"]


def measured_at(
    state: AccountState, rules: Rules, rosters: Rosters, day: int
) -> tuple[Measured, int | None]:
    """The account's raw measurements at the end of `day`, and the day they next change
    with no event (None: not until one comes)."""
    now = (day + 1) * DAY_MS - 1
    windows = aggregate(state, rules, now)
    signals = measure(state, rules, now, windows, rosters)
    roster = rosters.get(state.account_id)
    measured = Measured(
        fit=signals.fit,
        acv=signals.acv,
        topic_scores=dict(windows.topic_max),
        engagement_points=signals.engagement_points,
        engaged_contacts=signals.engaged_contacts,
        personas=persona_counts(list(windows.contacts), roster, rules),
    )
    return measured, None if signals.due_at is None else day_of(signals.due_at)


@dataclass(frozen=True, slots=True)
class Run:
    """An account's measurements, held from `first_day` for `days` days."""

    account: str
    first_day: int
    days: int
    measured: Measured


@dataclass(repr=False)
class Table:
    """Every account's runs, and what the objective and the ICP read beside them.

    No generated repr: asyncio's runner (Python 3.11) formats the main task's result
    while it restores the Ctrl-C handler, and a repr of a million runs takes seconds."""

    runs: list[Run] = field(default_factory=list)
    profiles: dict[str, AccountProfile] = field(default_factory=dict)
    """Each account's latest profile: its firmographics, for a candidate ICP."""
    opened: dict[tuple[str, str], int] = field(default_factory=dict)
    """(account, opportunity) -> its earliest stage event (epoch ms): when it was created."""
    profiled: dict[str, set[int]] = field(default_factory=dict)
    """Each account's profiles' record times: what a replay stamps the tier it decides
    at a profile with, before any event (replayed.py)."""
    latest: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    """(account, opportunity) -> its latest stage event (epoch ms) and stage: won or not."""

    def add(
        self, state: AccountState, rules: Rules, rosters: Rosters, since: int, until: int
    ) -> None:
        """The account's runs over the days [since, until)."""
        day = since
        while day < until:
            measured, changes = measured_at(state, rules, rosters, day)
            end = until if changes is None else min(max(changes, day + 1), until)
            self.runs.append(Run(state.account_id, day, end - day, measured))
            day = end

    def note(self, item: Item) -> None:
        """Keep what a record says of opportunities and firmographics."""
        record = item.record
        if not isinstance(record, AccountInput):
            return
        event = record.event
        if isinstance(event, AccountProfile):
            self.profiles[record.owner] = event
            self.profiled.setdefault(record.owner, set()).add(item.coords.timestamp)
        elif isinstance(event, DealEvent):
            key, at = (record.owner, event.opportunity_id), to_ms(event.occurred_at)
            first = self.opened.get(key)
            if first is None or at < first:
                self.opened[key] = at
            last = self.latest.get(key)
            if last is None or at >= last[0]:  # the same moment: the later to arrive
                self.latest[key] = (at, event.stage)

    def created(self, won_only: bool = False) -> dict[str, list[int]]:
        """Each account's opportunities' creation times, sorted (what `score.label`
        reads); with `won_only`, of those whose latest stage is closed_won."""
        by_account: dict[str, list[int]] = {}
        for key, at in self.opened.items():
            if not won_only or self.latest[key][1] == WON:
                by_account.setdefault(key[0], []).append(at)
        return {account: sorted(times) for account, times in by_account.items()}


SIGNALS = (InputKind.ENGAGEMENT, InputKind.INTENT)
"""What the history starts with. A CRM backfill brings deals won or lost long before
(customers' first purchases): applied, they are the accounts' past, but days before any
engagement or intent have nothing for a rule to read."""


def _from(runs: list[Run], start: int) -> list[Run]:
    """The runs from `start` on (one across it cut there)."""
    out = []
    for run in runs:
        end = run.first_day + run.days
        if end > start:
            out.append(
                run
                if run.first_day >= start
                else Run(run.account, start, end - start, run.measured)
            )
    return out


def _day(item: Item) -> int | None:
    """The day of an item's event; None for what has no event time (a profile, a roster,
    a rejected record)."""
    at = getattr(getattr(item.record, "event", None), "occurred_at", None)
    return None if at is None else day_of(to_ms(at))


class Recorder:
    """Replays items (each account's in its order; profiles and rosters first, as a
    replay takes them) and records every account's runs, from the day its state was
    made, or for one made by its profile, from the history's first day (`start`, or
    the first day of any event seen): firmographics hold for the whole history."""

    def __init__(
        self,
        rules: Rules,
        wall_now: int,
        start: int | None = None,
        erasures: ErasurePlan | None = None,
    ) -> None:
        self.rules, self.start = rules, start
        self.engine = Replay(rules, wall_now, erasures=erasures)
        self.table = Table()
        self.since: dict[str, int | None] = {}
        """Each account's first day not yet recorded (None: made by its profile, no
        event yet)."""
        self.before: dict[str, tuple[Measured, int]] = {}
        """A profile-made account as it stood before its first event, and that day: it
        holds from the history's first day, known at the end."""
        self.first_day: int | None = None
        """The first day of any engagement or intent: where the history starts."""

    def feed(self, item: Item) -> None:
        owner, day, engine = item.owner, _day(item), self.engine
        if day is not None and item.kind in SIGNALS:
            self.first_day = day if self.first_day is None else min(self.first_day, day)
        state = engine.accounts.get(owner)
        if state is not None and day is not None:
            since = self.since[owner]
            if since is None:
                self.before[owner] = (measured_at(state, self.rules, engine.rosters, day)[0], day)
                self.since[owner] = day
            elif day > since:
                self.table.add(state, self.rules, engine.rosters, since, day)
                self.since[owner] = day
        engine.feed(item)
        self.table.note(item)
        if owner not in self.since and owner in engine.accounts:
            self.since[owner] = day

    def part(self, until: int | None = None) -> "Part":
        """What this pass recorded, each account's runs to the day before `until`; without
        one, to the day of its partition's newest event, where a replay's timer stops (so
        a replay's tiers cover the same days). The runs that begin at the history's start
        wait in the part: one shard does not know where the history starts."""
        engine = self.engine  # not finished: its timer would prune days still to measure
        waiting = dict(self.before)
        for owner, since in self.since.items():
            if (state := engine.accounts.get(owner)) is None:
                continue
            newest = engine.stream_time.get(state.partition or 0)
            end = until if until is not None else None if newest is None else day_of(newest) + 1
            if end is None:
                continue
            if since is None:  # a profile and a roster alone: the same on every day
                waiting[owner] = (measured_at(state, self.rules, engine.rosters, end - 1)[0], end)
            else:
                self.table.add(state, self.rules, engine.rosters, since, end)
        return Part(self.table, self.first_day, waiting)

    def finish(self, until: int | None = None) -> Table:
        """The table of this pass alone (`part`, assembled from the history's start)."""
        return assemble([self.part(until)], self.start)


@dataclass(repr=False)
class Part:
    """One shard's pass: its accounts' runs, the first day of its signals, and the
    accounts whose first run begins at the history's start: their measurement then, and
    the day their own runs begin (an account made by its profile: its firmographics hold
    for the whole history)."""

    table: Table
    first_day: int | None
    waiting: dict[str, tuple[Measured, int]]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with the runs as plain tuples, as a shard sends it: pickle saves a
        slotted dataclass as a state dict per object, six times slower each way."""
        table = replace(self.table, runs=[])
        return (
            _unpickled,
            (table, self.first_day, self.waiting, [_flat(r) for r in self.table.runs]),
        )


Flat = tuple[Any, ...]
"""A run as a plain tuple: account, first day, days, then the measurement's fields."""
_MEASURED = attrgetter(*(f.name for f in fields(Measured)))


def _flat(run: Run) -> Flat:
    return (run.account, run.first_day, run.days, *_MEASURED(run.measured))


def _unpickled(
    table: Table, first_day: int | None, waiting: dict[str, tuple[Measured, int]], runs: list[Flat]
) -> Part:
    table.runs = [Run(r[0], r[1], r[2], Measured(*r[3:])) for r in runs]
    return Part(table, first_day, waiting)


def assemble(parts: Sequence[Part], start: int | None = None) -> Table:
    """One table of the parts (each holding other accounts), from the history's start:
    `start`, or the first day of any part's signals."""
    if start is None:
        start = min((p.first_day for p in parts if p.first_day is not None), default=None)
    table = Table()
    for part in parts:
        table.profiles |= part.table.profiles
        table.opened |= part.table.opened
        table.profiled |= part.table.profiled
        table.latest |= part.table.latest
    if start is None:  # no engagement or intent at all: no day to record
        return table
    for part in parts:
        table.runs += part.table.runs
        for owner, (measured, day) in part.waiting.items():
            if start < day:
                table.runs.append(Run(owner, start, day - start, measured))
    table.runs = _from(table.runs, start)
    return table


def record(
    items: Iterable[Item],
    rules: Rules,
    wall_now: int,
    start: int | None = None,
    until: int | None = None,
) -> Table:
    """Every account's runs over `items` (Recorder)."""
    recorder = Recorder(rules, wall_now, start)
    for item in items:
        recorder.feed(item)
    return recorder.finish(until)
