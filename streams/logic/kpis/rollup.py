"""Per-partition KPI partials kept equal to the sum of their accounts' counters.

Each account's last counted bag is remembered; when the account changes, the partial
moves by (new bag - old bag), exactly, as counters are integers. After a rebalance the
partials of the owned partitions are rebuilt from table state, so whatever was counted
before (by this worker or another) is replaced, never added to. The partials are what
Redis stores, as absolute values; readers sum them over partitions.
"""

from collections import Counter
from collections.abc import Iterable

from streams.logic.kpis.kpis import Bag

__all__ = ["Rollup"]


class Rollup:
    def __init__(self) -> None:
        self.partials: dict[int, Counter[str]] = {}
        self._bags: dict[str, tuple[int, Bag]] = {}
        self._changed: dict[int, set[str]] = {}
        self._rebuilt: set[int] = set()

    def update(self, owner: str, partition: int, bag: Bag) -> None:
        """Count `owner` (an account, or a campaign's key) as `bag` from now on."""
        old = self._bags.get(owner)
        if old is not None:
            self._move(old[0], old[1], -1)
        self._move(partition, bag, +1)
        self._bags[owner] = (partition, bag)

    def withdraw(self, owner: str) -> None:
        """`owner` is gone (removed, erased): take back everything it was counted as."""
        old = self._bags.pop(owner, None)
        if old is not None:
            self._move(old[0], old[1], -1)

    def _move(self, partition: int, bag: Bag, sign: int) -> None:
        partial = self.partials.setdefault(partition, Counter())
        changed = self._changed.setdefault(partition, set())
        for key, value in bag.items():
            partial[key] += sign * value
            if not partial[key]:
                del partial[key]
            changed.add(key)

    def tier_accounts(self) -> dict[int, int]:
        """Accounts counted per tier over the owned partitions (the `<tier>|accounts` counters
        the KPI bags carry)."""
        counts: dict[int, int] = {}
        for partial in self.partials.values():
            for key, value in partial.items():
                tier, _, name = key.partition("|")
                if name == "accounts":
                    counts[int(tier)] = counts.get(int(tier), 0) + value
        return counts

    def reset(self, owned: Iterable[int]) -> None:
        """Forget everything: the owned partitions are about to be recounted from state."""
        self.partials = {p: Counter() for p in owned}
        self._bags.clear()
        self._changed = {p: set() for p in owned}
        self._rebuilt = set(owned)

    def take_changes(self) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
        """(whole partials to replace, changed counters to set; 0 means delete) since the
        last call. Put them back with `restore` if writing them fails."""
        whole = {p: dict(self.partials.get(p, {})) for p in self._rebuilt}
        fields = {
            p: {k: self.partials.get(p, Counter()).get(k, 0) for k in keys}
            for p, keys in self._changed.items()
            if keys and p not in self._rebuilt
        }
        self._changed = {p: set() for p in self._changed}
        self._rebuilt = set()
        return whole, fields

    def restore(self, whole: Iterable[int], fields: dict[int, dict[str, int]]) -> None:
        self._rebuilt.update(whole)
        for partition, keys in fields.items():
            self._changed.setdefault(partition, set()).update(keys)
