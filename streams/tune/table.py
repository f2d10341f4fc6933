"""One pass over history: what each account measured, day by day, as runs of days.

An account's measurements change only when an event lands or a window drops a day (its
`Signals.due_at`), so each account is measured at the end of each day it had events and
at each day a window moves, and a measurement holds until the next: a run. A year of
10,000 accounts is then a few rows per account and active day, not 3.65 million.

Measured at a day's end, after the day's events as they arrived: the tier an account
stood in that day (windows are whole days, so any moment of the day after its last event
reads the same), which is what the live worker decided then.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.common import to_ms
from schemas.inputs import AccountProfile, DealEvent
from streams.logic.inputs.records import AccountInput, InputRecord
from streams.logic.rules import Rules
from streams.logic.signals.aggregates import aggregate
from streams.logic.signals.committee import persona_counts
from streams.logic.signals.tiering import measure
from streams.logic.state.opportunities import WON
from streams.logic.state.roster import Rosters
from streams.logic.state.state import AccountState
from streams.logic.state.windows import DAY_MS, day_of
from streams.replay.engine import Item, Replay
from streams.tune.columns import Measured

__all__ = ["Recorder", "Run", "Table", "measured_at", "record"]


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


@dataclass
class Table:
    """Every account's runs, and what the objective and the ICP read beside them."""

    runs: list[Run] = field(default_factory=list)
    profiles: dict[str, AccountProfile] = field(default_factory=dict)
    """Each account's latest profile: its firmographics, for a candidate ICP."""
    opened: dict[tuple[str, str], int] = field(default_factory=dict)
    """(account, opportunity) -> its earliest stage event (epoch ms): when it was created."""
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

    def note(self, record: InputRecord | None) -> None:
        """Keep what a record says of opportunities and firmographics."""
        if not isinstance(record, AccountInput):
            return
        event = record.event
        if isinstance(event, AccountProfile):
            self.profiles[record.owner] = event
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


def _day(item: Item) -> int | None:
    """The day of an item's event; None for what has no event time (a profile, a roster,
    a rejected record)."""
    at = getattr(getattr(item.record, "event", None), "occurred_at", None)
    return None if at is None else day_of(to_ms(at))


class Recorder:
    """Replays items (each account's in its order; profiles and rosters first, as a
    replay takes them) and records every account's runs, from the day its state was
    made (`start`, the history's first day, for one made by its profile)."""

    def __init__(self, rules: Rules, wall_now: int, start: int) -> None:
        self.rules, self.start = rules, start
        self.engine = Replay(rules, wall_now)
        self.table = Table()
        self.since: dict[str, int] = {}
        """Each account's first day not yet recorded."""

    def feed(self, item: Item) -> None:
        owner, day, engine = item.owner, _day(item), self.engine
        state = engine.accounts.get(owner)
        if state is not None and day is not None and day > self.since[owner]:
            self.table.add(state, self.rules, engine.rosters, self.since[owner], day)
            self.since[owner] = day
        engine.feed(item)
        self.table.note(item.record)
        if owner not in self.since and owner in engine.accounts:
            self.since[owner] = self.start if day is None else max(day, self.start)

    def finish(self, until: int | None = None) -> Table:
        """The table, each account's runs to the day before `until`; without one, to the
        day of its partition's newest event, where a replay's timer stops (so a replay's
        tiers cover the same days)."""
        engine = self.engine
        engine.finish()
        for owner, first in self.since.items():
            if (state := engine.accounts.get(owner)) is None:
                continue
            newest = engine.stream_time.get(state.partition or 0)
            if until is not None:
                self.table.add(state, self.rules, engine.rosters, first, until)
            elif newest is not None:
                self.table.add(state, self.rules, engine.rosters, first, day_of(newest) + 1)
        return self.table


def record(
    items: Iterable[Item], rules: Rules, wall_now: int, start: int, until: int | None = None
) -> Table:
    """Every account's runs over `items` (Recorder)."""
    recorder = Recorder(rules, wall_now, start)
    for item in items:
        recorder.feed(item)
    return recorder.finish(until)
