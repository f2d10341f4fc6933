"""Every window the rules read, kept per account and updated as events land.

Tiering reads the intent and engagement windows, surge detection this week against the
weeks before, and the staleness timer the oldest day in each window. These run on every
event and every tick, live and in replay. Computed once from the day buckets, moved by
each event (one bucket changes) and rolled forward a day at a time (only the days that
cross a window's edge are read), an evaluation reads them in O(1) instead of scanning
every stored day: most events are an account's first of its day, so a recompute at each
new day cost a quarter of a replay.

Points are summed as integer thousandths of each day's total, so a sum moved event by
event equals one recomputed from the buckets (after a restart, or in a replay), exactly.
The aggregates are a cache of the state, never stored: `AccountState.to_json` writes null.
"""

from typing import TYPE_CHECKING

from streams.logic.rules import Rules
from streams.logic.signals.catalogue import catalogue
from streams.logic.signals.committee import tiers_read_personas
from streams.logic.state.cache import Derived
from streams.logic.state.windows import WEEK_DAYS, day_of

if TYPE_CHECKING:
    from streams.logic.state.state import AccountState, DayBucket

__all__ = ["Aggregates", "aggregate", "cached", "milli", "windows_of"]


def milli(points: float) -> int:
    """A day's points in exact integer thousandths: the unit windows are summed in."""
    return round(points * 1000)


class Aggregates(Derived):
    """An account's windows on day `today`; days after it are not counted."""

    __slots__ = (
        "before_m",
        "by_cluster",
        "catalogue",
        "contacts",
        "engagement_first",
        "highs",
        "intent_first",
        "journey_days",
        "journey_first",
        "journey_m",
        "points_m",
        "read_personas",
        "rules",
        "today",
        "topic_max",
        "week_first",
        "week_m",
        "week_top",
    )

    def __init__(self, rules: Rules, today: int) -> None:
        self.rules = rules
        self.catalogue = catalogue(rules.intent)
        self.read_personas = tiers_read_personas(rules)
        """Whether a tier rule reads personas (else no evaluation looks up a roster)."""
        self.today = today
        self.points_m = 0
        """Engagement points (thousandths) in the tier window."""
        self.contacts: dict[str, int] = {}
        """Engaged contacts in the tier window, each with the number of its days there (so a
        day leaving the window takes away only the contacts seen on no other day)."""
        self.engagement_first: int | None = None
        """The oldest day with engagement in the tier window."""
        self.topic_max: dict[str, float] = {}
        """Highest score per intent topic in the tier window. Here and below, only topics
        that count (rules.intent), with each provider's score weighted."""
        self.intent_first: int | None = None
        self.journey_days: int = rules.journey_window_days
        """The journey window, read once: a rule set's attributes cost a lookup each."""
        self.journey_m = 0
        """Engagement points (thousandths) in the journey window."""
        self.journey_first: int | None = None
        """The oldest day with engagement in the journey window."""
        self.week_m = 0
        """Engagement points (thousandths) in the 7 days ending today."""
        self.before_m = 0
        """Engagement points (thousandths) in the `baseline_weeks` weeks before them."""
        self.highs: dict[str, list[float]] = {}
        """Per intent topic: the highest score of each week, this one first."""
        self.by_cluster: dict[str, dict[str, list[float]]] = {}
        """With a catalogue: `highs` per cluster (the same lists), so a surge check reads
        its cluster's topics without sorting every topic at every event."""
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
                self.contacts[contact] = self.contacts.get(contact, 0) + 1
            if self.engagement_first is None or day < self.engagement_first:
                self.engagement_first = day
        if age < self.journey_days:
            self.journey_m += delta_m
            if self.journey_first is None or day < self.journey_first:
                self.journey_first = day
        if age < WEEK_DAYS:
            self.week_m += delta_m
            if self.week_first is None or day < self.week_first:
                self.week_first = day
        elif age < WEEK_DAYS * (self.rules.surge.baseline_weeks + 1):
            self.before_m += delta_m

    def add_intent_event(self, topic: str, provider: str, day: int, raw: float) -> None:
        """A provider scored a topic `raw` on `day` (its highest that day so far or not)."""
        cat = self.catalogue
        if cat.plain:
            self.add_intent(topic, day, raw)
        elif cat.weight(provider) > 0 and cat.clusters_of(topic):
            self.add_intent(cat.key(topic), day, cat.weighted(provider, raw))

    def add_intent(self, topic: str, day: int, score: float) -> None:
        """A topic that counts (under its key) scored `score` (weighted) on `day` (the
        day's highest so far or not)."""
        weeks = self.rules.surge.baseline_weeks
        weekly = self.highs.get(topic)
        if weekly is None:
            weekly = self.highs[topic] = [0.0] * (weeks + 1)
            cat = self.catalogue
            if cat.named:
                for cluster in cat.clusters_of(topic):
                    self.by_cluster.setdefault(cluster, {})[topic] = weekly
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

    def _add_intents(self, state: "AccountState") -> None:
        cat = self.catalogue
        for topic, providers in state.intent.items():
            if cat.plain:
                for days in providers.values():
                    for day, raw in days.items():
                        self.add_intent(topic, day, raw)
                continue
            if not cat.clusters_of(topic):
                continue  # kept in state for a later catalogue; counts for nothing now
            key = cat.key(topic)
            for provider, days in providers.items():
                if cat.weight(provider) <= 0:
                    continue
                for day, raw in days.items():
                    self.add_intent(key, day, cat.weighted(provider, raw))

    def forget_topic(self, topic: str, state: "AccountState") -> None:
        """A topic left the state (pruned): drop its windows unless another spelling of
        the same topic is still there."""
        key = self.catalogue.key(topic)
        if any(self.catalogue.key(t) == key for t in state.intent):
            return
        self.highs.pop(key, None)
        for topics in self.by_cluster.values():
            topics.pop(key, None)

    def drop_engagement(self, day: int, bucket: "DayBucket") -> None:
        """`day` is leaving the state (pruned): take it out of the windows that count it."""
        age = self.today - day
        if age < 0:
            return
        points = milli(bucket.points)
        if age < self.rules.engagement_window_days:
            self.points_m -= points
            self._uncount(bucket.contacts)
        if age < self.journey_days:
            self.journey_m -= points
        if age < WEEK_DAYS:
            self.week_m -= points
        elif age < WEEK_DAYS * (self.rules.surge.baseline_weeks + 1):
            self.before_m -= points

    def _count(self, contacts: list[str]) -> None:
        for contact in contacts:
            self.contacts[contact] = self.contacts.get(contact, 0) + 1

    def _uncount(self, contacts: list[str]) -> None:
        for contact in contacts:
            left = self.contacts[contact] - 1
            if left:
                self.contacts[contact] = left
            else:
                del self.contacts[contact]

    def roll(self, state: "AccountState", today: int) -> bool:
        """Move the windows forward to `today`, less than a week (and the tier window) on;
        False (nothing changed) when it is further: recomputing is then no dearer.

        Engagement moves by the days that cross an edge (out of the tier window, from this
        week into the weeks before, out of those) and the days after the old today; the
        oldest days are found again only when theirs left. Intent is recomputed: a week's
        high cannot be moved by a day, and an account has few intent days.
        """
        old, rules, engagement = self.today, self.rules, state.engagement
        window, journey = rules.engagement_window_days, self.journey_days
        if not 0 < today - old < min(WEEK_DAYS, window, journey):
            return False
        baseline_days = WEEK_DAYS * (rules.surge.baseline_weeks + 1)
        for day in range(old - window + 1, today - window + 1):
            bucket = engagement.get(day)
            if bucket is not None:
                self.points_m -= milli(bucket.points)
                self._uncount(bucket.contacts)
        for day in range(old - journey + 1, today - journey + 1):
            bucket = engagement.get(day)
            if bucket is not None:
                self.journey_m -= milli(bucket.points)
        for day in range(old - WEEK_DAYS + 1, today - WEEK_DAYS + 1):
            bucket = engagement.get(day)
            if bucket is not None:
                points = milli(bucket.points)
                self.week_m -= points
                self.before_m += points
        for day in range(old - baseline_days + 1, today - baseline_days + 1):
            bucket = engagement.get(day)
            if bucket is not None:
                self.before_m -= milli(bucket.points)
        self.today = today
        start = today - window + 1
        if self.engagement_first is not None and self.engagement_first < start:
            self.engagement_first = _first_day(engagement, start, old)
        start = today - journey + 1
        if self.journey_first is not None and self.journey_first < start:
            self.journey_first = _first_day(engagement, start, old)
        for day in range(old + 1, today + 1):
            bucket = engagement.get(day)
            if bucket is not None:
                self.add_engagement(day, milli(bucket.points), None)
                self._count(bucket.contacts)
        self.week_first = _first_day(engagement, today - WEEK_DAYS + 1, today)
        self.topic_max, self.intent_first, self.highs, self.week_top = {}, None, {}, 0.0
        self.by_cluster = {}
        self._add_intents(state)
        return True


def _first_day(days: "dict[int, DayBucket]", first: int, last: int) -> int | None:
    """The oldest of `days` in [first, last]."""
    for day in range(first, last + 1):
        if day in days:
            return day
    return None


def aggregate(state: "AccountState", rules: Rules, now: int) -> Aggregates:
    """The windows at `now`, from the buckets (the engagement loop of `add_engagement`,
    inlined: this runs for every account after a restart, and after a week's gap)."""
    a = Aggregates(rules, day_of(now))
    today, window = a.today, rules.engagement_window_days
    journey = rules.journey_window_days
    weeks = rules.surge.baseline_weeks
    baseline_days = WEEK_DAYS * (weeks + 1)
    for day, bucket in state.engagement.items():
        age = today - day
        if age < 0 or (age >= baseline_days and age >= window and age >= journey):
            continue
        points = round(bucket.points * 1000)
        if age < window:
            a.points_m += points
            a._count(bucket.contacts)
            if a.engagement_first is None or day < a.engagement_first:
                a.engagement_first = day
        if age < journey:
            a.journey_m += points
            if a.journey_first is None or day < a.journey_first:
                a.journey_first = day
        if age < WEEK_DAYS:
            a.week_m += points
            if a.week_first is None or day < a.week_first:
                a.week_first = day
        elif age < baseline_days:
            a.before_m += points
    a._add_intents(state)
    return a


def windows_of(state: "AccountState", rules: Rules, now: int) -> Aggregates:
    """The account's windows at `now`: its cached aggregates for these rules, rolled
    forward to now's day, else recomputed (and cached for the events to move)."""
    windows = cached(state)
    if windows is not None and windows.rules is rules:
        today = day_of(now)
        if windows.today == today or windows.roll(state, today):
            return windows
    state.windows = fresh = aggregate(state, rules, now)
    return fresh


def cached(state: "AccountState") -> Aggregates | None:
    """The windows kept on the state, if it has them (not after a restart, say)."""
    windows = state.windows
    return windows if isinstance(windows, Aggregates) else None
