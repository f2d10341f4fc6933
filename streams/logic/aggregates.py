"""Every window the rules read, kept per account and updated as events land.

Tiering reads the intent and engagement windows, surge detection this week against the
weeks before, and the staleness timer the oldest day in each window. These run on every
event and every tick, live and in replay. Computed from the day buckets at the first
evaluation of a day and then moved by each event of that day (one bucket changes), an
evaluation reads them in O(1) instead of scanning every stored day.

Points are summed as integer thousandths of each day's total, so a sum moved event by
event equals one recomputed from the buckets (after a restart, or in a replay), exactly.
The aggregates are a cache of the state, never stored: `AccountState.to_json` writes null.
"""

from typing import TYPE_CHECKING

from streams.config import Rules
from streams.logic.windows import WEEK_DAYS, day_of

if TYPE_CHECKING:
    from streams.logic.state import AccountState

__all__ = ["Aggregates", "aggregate", "milli", "windows_of"]


def milli(points: float) -> int:
    """A day's points in exact integer thousandths: the unit windows are summed in."""
    return round(points * 1000)


class Aggregates:
    """An account's windows on day `today`; days after it are not counted."""

    __slots__ = (
        "before_m",
        "contacts",
        "engagement_first",
        "highs",
        "intent_first",
        "points_m",
        "rules",
        "today",
        "topic_max",
        "week_first",
        "week_m",
        "week_top",
    )

    def __init__(self, rules: Rules, today: int) -> None:
        self.rules = rules
        self.today = today
        self.points_m = 0
        """Engagement points (thousandths) in the tier window."""
        self.contacts: set[str] = set()
        """Distinct engaged contacts in the tier window."""
        self.engagement_first: int | None = None
        """The oldest day with engagement in the tier window."""
        self.topic_max: dict[str, float] = {}
        """Highest score per intent topic in the tier window."""
        self.intent_first: int | None = None
        self.week_m = 0
        """Engagement points (thousandths) in the 7 days ending today."""
        self.before_m = 0
        """Engagement points (thousandths) in the `baseline_weeks` weeks before them."""
        self.highs: dict[str, list[float]] = {}
        """Per intent topic: the highest score of each week, this one first."""
        self.week_top = 0.0
        """The highest intent score of any topic this week (surge checks start from it)."""
        self.week_first: int | None = None
        """The oldest day with any data in the 7 days ending today (when a surge can end)."""

    @property
    def points(self) -> float:
        return self.points_m / 1000

    @property
    def week(self) -> float:
        return self.week_m / 1000

    @property
    def before(self) -> float:
        return self.before_m / 1000

    def add_engagement(self, day: int, delta_m: int, contact: str | None) -> None:
        """One event added `delta_m` thousandths (and maybe a new contact) to `day`."""
        age = self.today - day
        if age < 0:
            return
        if age < self.rules.engagement_window_days:
            self.points_m += delta_m
            if contact is not None:
                self.contacts.add(contact)
            if self.engagement_first is None or day < self.engagement_first:
                self.engagement_first = day
        if age < WEEK_DAYS:
            self.week_m += delta_m
            if self.week_first is None or day < self.week_first:
                self.week_first = day
        elif age < WEEK_DAYS * (self.rules.surge.baseline_weeks + 1):
            self.before_m += delta_m

    def add_intent(self, topic: str, day: int, score: float) -> None:
        """A topic scored `score` on `day` (the day's highest so far or not)."""
        weeks = self.rules.surge.baseline_weeks
        weekly = self.highs.get(topic)
        if weekly is None:
            weekly = self.highs[topic] = [0.0] * (weeks + 1)
        age = self.today - day
        if age < 0:
            return
        if age < WEEK_DAYS * (weeks + 1):
            w = age // WEEK_DAYS
            if score > weekly[w]:
                weekly[w] = score
            if age < WEEK_DAYS:
                if score > self.week_top:
                    self.week_top = score
                if self.week_first is None or day < self.week_first:
                    self.week_first = day
        if age < self.rules.intent_window_days:
            best = self.topic_max.get(topic)
            if best is None or score > best:
                self.topic_max[topic] = score
            if self.intent_first is None or day < self.intent_first:
                self.intent_first = day


def aggregate(state: "AccountState", rules: Rules, now: int) -> Aggregates:
    """The windows at `now`, from the buckets (the loops of `add_*`, inlined: this runs at
    an account's first evaluation of each day)."""
    a = Aggregates(rules, day_of(now))
    today, window = a.today, rules.engagement_window_days
    weeks = rules.surge.baseline_weeks
    baseline_days = WEEK_DAYS * (weeks + 1)
    for day, bucket in state.engagement.items():
        age = today - day
        if age < 0 or (age >= baseline_days and age >= window):
            continue
        points = round(bucket.points * 1000)
        if age < window:
            a.points_m += points
            if bucket.contacts:
                a.contacts.update(bucket.contacts)
            if a.engagement_first is None or day < a.engagement_first:
                a.engagement_first = day
        if age < WEEK_DAYS:
            a.week_m += points
            if a.week_first is None or day < a.week_first:
                a.week_first = day
        elif age < baseline_days:
            a.before_m += points
    for topic, days in state.intent.items():
        a.highs[topic] = [0.0] * (weeks + 1)
        for day, score in days.items():
            a.add_intent(topic, day, score)
    return a


def windows_of(state: "AccountState", rules: Rules, now: int) -> Aggregates:
    """The account's windows at `now`: its cached aggregates when they are for that day and
    these rules, else recomputed (and cached for the events of the day to move)."""
    cached = state.windows
    if cached is not None and cached.rules is rules and cached.today == day_of(now):
        return cached
    state.windows = fresh = aggregate(state, rules, now)
    return fresh
