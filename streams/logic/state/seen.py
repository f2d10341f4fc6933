"""The event ids an account applied lately, so an event sent twice changes nothing.

In memory: one dict of "kind:id" -> the day it was remembered on (an engagement and an
intent event may share an id), as cheap to check and to add to as anything. Stored: the
ids grouped by kind and day, one space-joined string per day (ids hold no spaces:
schemas/common.py `Id`), less than half the bytes of that dict as JSON on the benchmark's
ids, with nothing lost. The grouping is paid when a record is written (once per account
per flush in the worker; never in a replay), and a record read back keeps the stored form
until an event needs the check, so a process that only reads records (the view) never
splits it.
"""

from typing import Any

__all__ = ["SeenIds"]

Stored = dict[str, dict[str, str]]
"""kind -> day (as JSON keys are strings) -> the ids remembered that day, space-joined."""


class SeenIds:
    __slots__ = ("_index", "_stored")

    def __init__(self, stored: Stored | None = None) -> None:
        self._stored = stored
        self._index: dict[str, int] = {}
        """"kind:id" -> day, each kind's days ascending in insertion order (a kind's day
        never goes back): the old ones lead."""

    @classmethod
    def load(cls, stored: dict[str, Any]) -> "SeenIds":
        """Read a stored record's `seen`. Records stored before this form held the index
        itself."""
        if not stored or isinstance(next(iter(stored.values())), dict):
            return cls(stored)
        seen = cls()
        seen._index = dict(stored)
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
                    index[f"{kind}:{event_id}"] = day

    def has(self, key: str) -> bool:
        """Whether "kind:id" is remembered."""
        self._open()
        return key in self._index

    def add(self, key: str, day: int) -> None:
        """Remember "kind:id", not yet remembered, on a day no older than its kind's newest."""
        self._open()
        self._index[key] = day

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
