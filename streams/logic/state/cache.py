"""Caches of the pure logic: what an account's state may carry for speed but never
stores, and the indexes built once per rule set.

The state (state.py) keeps a slot for derived values, such as its windows (aggregates.py),
and must write it as null without knowing what fills it: this base class is how it
recognises them, so the state depends on nothing derived from it.
"""

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ByIdentity", "Derived"]

K = TypeVar("K")
V = TypeVar("V")


class Derived:
    """Base of a value computed from an account's state and cached on it: written as
    null, rebuilt from the state when missing."""

    __slots__ = ()


class ByIdentity(Generic[K, V]):
    """Indexes built from a rule set, once each, found by the rule set's identity.

    Rules are frozen pydantic models: reading derived data off one (a private attribute)
    costs microseconds, which at every event is a tenth of a replay's time, while a
    dictionary lookup by `id` costs nothing. The key is kept beside its index, so an id
    reused by a new object after the old one died is never mistaken for it.
    """

    __slots__ = ("build", "built")

    def __init__(self, build: Callable[[K], V]) -> None:
        self.build = build
        self.built: dict[int, tuple[K, V]] = {}

    def get(self, key: K) -> V:
        found = self.built.get(id(key))
        if found is not None and found[0] is key:
            return found[1]
        if len(self.built) > 64:  # rule sets come and go only in tests and backtests
            self.built.clear()
        index = self.build(key)
        self.built[id(key)] = (key, index)
        return index
