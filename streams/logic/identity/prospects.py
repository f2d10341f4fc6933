"""The business domains engaging that are not accounts yet: what `abm unmatched` lists.

Every event that matched no account says why; those that carried a business domain no
account claims are the interesting ones: people from a company marketing does not
target yet are reading the site, opening emails, filling forms. Counted per domain and
UTC day, so any trailing window can be read, each event id once (an unmatched record
may be written twice after a crash) and each person once (by their hashed id).
"""

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

__all__ = ["Prospect", "Prospects"]

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Prospect:
    domain: str
    events: int
    people: int
    first_seen: int
    """Epoch ms of its first event in the window; `last_seen` of its last."""
    last_seen: int


@dataclass(slots=True)
class _Day:
    events: int = 0
    people: set[str] = field(default_factory=set)
    first: int = 0
    last: int = 0


@dataclass
class Prospects:
    """Unmatched events added one by one; `top` reads any trailing window of them."""

    days: dict[str, dict[int, _Day]] = field(default_factory=dict)
    """Domain -> UTC day (epoch ms of its start) -> what came that day."""
    reasons: Counter[tuple[str, int]] = field(default_factory=Counter)
    """(reason, day) -> distinct events, for the totals beside the list."""
    seen: dict[str, int] = field(default_factory=dict)
    """Event id -> its day: each counted once."""

    def add(self, event_id: str, reason: str, domain: str | None, person: str, at: int) -> None:
        if event_id in self.seen:
            return
        day = at - at % DAY_MS
        self.seen[event_id] = day
        self.reasons[reason, day] += 1
        if domain is None:
            return
        bucket = self.days.setdefault(domain, {}).get(day)
        if bucket is None:
            bucket = self.days[domain][day] = _Day(first=at, last=at)
        bucket.events += 1
        bucket.people.add(person)
        bucket.first, bucket.last = min(bucket.first, at), max(bucket.last, at)

    def top(
        self, since: int, limit: int | None = None, claimed: Collection[str] = ()
    ) -> list[Prospect]:
        """The domains with events at or after `since` (epoch ms, rounded down to its
        day), busiest first (then most people, then by name); none an account `claimed`
        since (its events were matched then)."""
        start = since - since % DAY_MS
        rows = []
        for domain, days in self.days.items():
            if domain in claimed:
                continue
            recent = [d for day, d in days.items() if day >= start]
            if recent:
                rows.append(
                    Prospect(
                        domain,
                        sum(d.events for d in recent),
                        len(set().union(*(d.people for d in recent))),
                        min(d.first for d in recent),
                        max(d.last for d in recent),
                    )
                )
        rows.sort(key=lambda p: (-p.events, -p.people, p.domain))
        return rows[:limit]

    def totals(self, since: int) -> dict[str, int]:
        """Unmatched events at or after `since`, by reason."""
        start = since - since % DAY_MS
        out: Counter[str] = Counter()
        for (reason, day), n in self.reasons.items():
            if day >= start:
                out[reason] += n
        return dict(out)

    def forget_before(self, since: int) -> None:
        """Drop the days before `since`'s: a long-running reader keeps what it may show."""
        start = since - since % DAY_MS
        self.seen = {i: day for i, day in self.seen.items() if day >= start}
        self.reasons = Counter({k: n for k, n in self.reasons.items() if k[1] >= start})
        for domain in list(self.days):
            kept = {day: d for day, d in self.days[domain].items() if day >= start}
            if kept:
                self.days[domain] = kept
            else:
                del self.days[domain]
