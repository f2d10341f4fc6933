"""The event ids an account applied lately, so an event sent twice changes nothing.

In memory: one dict of "kind:id" -> the day it was remembered on (an engagement and an
intent event may share an id), as cheap to check and to add to as anything. Stored: the
ids grouped by kind and day, one space-joined string per day (ids hold no spaces:
schemas/common.py `Id`), less than half the bytes of that dict as JSON on the benchmark's
ids, with nothing lost. The grouping is paid when a record is written (once per account
per flush in the worker; never in a replay), and a record read back keeps the stored form
until an event needs the check, so a process that only reads records (the view) never
splits it.

Bounded: an account sent tens of thousands of distinct event ids a day (a hot account's ad
impressions) would otherwise grow a state record past what the broker takes, and stop its
worker. Past `BUDGET` characters of ids the oldest remembered leave first, and are counted
(`evicted`). Redelivery stays exact regardless (the offsets in the record catch it); what
is lost is only the catch of a source that sends one event twice, at two offsets, further
apart than the budget reaches.
"""

from typing import Any

__all__ = ["BUDGET", "SeenIds"]

BUDGET = 256 * 1024
"""Characters of "kind:id" keys remembered per account at most (an id is up to 128)."""

Stored = dict[str, dict[str, str]]
"""kind -> day (as JSON keys are strings) -> the ids remembered that day, space-joined."""


class SeenIds:
    __slots__ = ("_index", "_size", "_stored", "evicted")

    def __init__(self, stored: Stored | None = None) -> None:
        self._stored = stored
        self._index: dict[str, int] = {}
        """"kind:id" -> day, each kind's days ascending in insertion order (a kind's day
        never goes back): the old ones lead."""
        self._size = 0
        """Characters of the keys in `_index`."""
        self.evicted = 0
        """Ids forgotten early, for the budget, since this object was made (not stored)."""

    @classmethod
    def load(cls, stored: dict[str, Any]) -> "SeenIds":
        """Read a stored record's `seen`. Records stored before this form held the index
        itself."""
        if not stored or isinstance(next(iter(stored.values())), dict):
            return cls(stored)
        seen = cls()
        seen._index = dict(stored)
        seen._size = sum(map(len, seen._index))
        return seen

    def _open(self) -> None:
        stored = self._stored
        if stored is None:
            return
        self._stored = None
        index = self._index
        for kind, days in stored.items():
            for day, ids in sorted((int(d), ids) for d, ids in days.items()):
                for event_id in ids.split(" "):
                    key = f"{kind}:{event_id}"
                    index[key] = day
                    self._size += len(key)

    def has(self, key: str) -> bool:
        """Whether "kind:id" is remembered."""
        self._open()
        return key in self._index

    def add(self, key: str, day: int) -> None:
        """Remember "kind:id", not yet remembered, on a day no older than its kind's newest."""
        self._open()
        self._index[key] = day
        self._size += len(key)
        if self._size > BUDGET:
            self._evict()

    def _evict(self) -> None:
        """Forget the ids remembered first, down to 90% of the budget: in batches, as one
        scan of the dict (each scan from its start passes the slots deleted before)."""
        size, target = self._size, BUDGET * 9 // 10
        old = []
        for key in self._index:
            if size <= target:
                break
            old.append(key)
            size -= len(key)
        for key in old:
            del self._index[key]
        self._size = size
        self.evicted += len(old)

    def forget(self, before: dict[str, int]) -> None:
        """Forget each kind's ids remembered before its day in `before`. A kind's old ids
        lead the dict, so the scan stops at the first id of each kind still young."""
        self._open()
        forget = dict(before)
        old = []
        for key, day in self._index.items():
            kind = key[0]
            if kind not in forget:
                continue
            if day < forget[kind]:
                old.append(key)
            else:
                del forget[kind]  # the rest of this kind is younger
                if not forget:
                    break
        for key in old:
            del self._index[key]
            self._size -= len(key)

    def stored(self) -> Stored:
        """The form a record stores: unchanged if it was never opened."""
        if self._stored is not None:
            return self._stored
        grouped: dict[str, dict[int, list[str]]] = {}
        for key, day in self._index.items():
            kind, _, event_id = key.partition(":")
            days = grouped.get(kind)
            if days is None:
                days = grouped[kind] = {}
            ids = days.get(day)
            if ids is None:
                days[day] = [event_id]
            else:
                ids.append(event_id)
        return {
            kind: {str(day): " ".join(ids) for day, ids in days.items()}
            for kind, days in grouped.items()
        }

    def __bool__(self) -> bool:
        return bool(self._stored) if self._stored is not None else bool(self._index)

    def __len__(self) -> int:
        self._open()
        return len(self._index)

    def __eq__(self, other: object) -> bool:
        """The same ids on the same days, in whatever order they arrived."""
        if not isinstance(other, SeenIds):
            return False
        self._open()
        other._open()
        return self._index == other._index

    def __repr__(self) -> str:
        return f"SeenIds({len(self)} ids)"
