"""The event ids an account applied lately, so an event sent twice changes nothing.

Ids are kept per kind of event (an engagement and an intent event may share an id) and
per day they were remembered on. They are stored as one space-joined string per day (ids
hold no spaces: schemas/common.py `Id`): less than half the bytes of a JSON object of id
to day on the benchmark's ids, with nothing lost. A record read back keeps that stored
form until an event needs the check, so a process that only reads records (the view)
never splits them.
"""

from typing import Any

__all__ = ["SeenIds"]

Stored = dict[str, dict[str, str]]
"""kind -> day (as JSON keys are strings) -> the ids remembered that day, space-joined."""


class SeenIds:
    __slots__ = ("_days", "_ids", "_stored")

    def __init__(self, stored: Stored | None = None) -> None:
        self._stored = stored
        self._days: dict[str, dict[int, list[str]]] = {}
        """kind -> day -> ids, days in ascending order (a kind's day never goes back)."""
        self._ids: dict[str, set[str]] = {}
        """kind -> every id of _days[kind]: the check is one set lookup."""

    @classmethod
    def load(cls, stored: dict[str, Any]) -> "SeenIds":
        """Read a stored record's `seen`. Records stored before this form map "kind:id" to
        its day; they are read into it."""
        if not stored or isinstance(next(iter(stored.values())), dict):
            return cls(stored)
        seen = cls()
        for key, day in sorted(stored.items(), key=lambda item: item[1]):
            kind, _, event_id = key.partition(":")
            seen.add(kind, event_id, day)
        return seen

    def _open(self) -> None:
        stored = self._stored
        if stored is None:
            return
        self._stored = None
        for kind, days in stored.items():
            by_day = {int(d): ids.split(" ") for d, ids in days.items()}
            self._days[kind] = dict(sorted(by_day.items()))
            self._ids[kind] = {i for ids in by_day.values() for i in ids}

    def has(self, kind: str, event_id: str) -> bool:
        self._open()
        ids = self._ids.get(kind)
        return ids is not None and event_id in ids

    def add(self, kind: str, event_id: str, day: int) -> None:
        """Remember an id not yet remembered, on a day no older than its kind's newest."""
        self._open()
        days = self._days.get(kind)
        if days is None:
            days = self._days[kind] = {}
            self._ids[kind] = set()
        ids = days.get(day)
        if ids is None:
            ids = days[day] = []
        ids.append(event_id)
        self._ids[kind].add(event_id)

    def forget(self, before: dict[str, int]) -> None:
        """Forget each kind's ids remembered before its day in `before`."""
        self._open()
        for kind, cutoff in before.items():
            days = self._days.get(kind)
            if not days:
                continue
            old = [day for day in days if day < cutoff]
            if not old:
                continue
            remembered = self._ids[kind]
            for day in old:
                remembered.difference_update(days.pop(day))
            if not days:
                del self._days[kind], self._ids[kind]

    def stored(self) -> Stored:
        """The form a record stores: unchanged if it was never opened."""
        if self._stored is not None:
            return self._stored
        return {
            kind: {str(day): " ".join(ids) for day, ids in days.items()}
            for kind, days in self._days.items()
        }

    def _sets(self) -> dict[str, dict[int, set[str]]]:
        self._open()
        return {k: {d: set(ids) for d, ids in days.items()} for k, days in self._days.items()}

    def __len__(self) -> int:
        if self._stored is not None:
            return sum(
                ids.count(" ") + 1 for days in self._stored.values() for ids in days.values()
            )
        return sum(len(ids) for ids in self._ids.values())

    def __eq__(self, other: object) -> bool:
        """The same ids on the same days, in whatever order they arrived."""
        return isinstance(other, SeenIds) and self._sets() == other._sets()

    def __repr__(self) -> str:
        return f"SeenIds({len(self)} ids)"
