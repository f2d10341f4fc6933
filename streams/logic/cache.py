"""What an account's state may carry for speed but never stores.

The state (state.py) keeps a slot for derived values, such as its windows (aggregates.py),
and must write it as null without knowing what fills it: this base class is how it
recognises them, so the state depends on nothing derived from it.
"""

__all__ = ["Derived"]


class Derived:
    """Base of a value computed from an account's state and cached on it: written as
    null, rebuilt from the state when missing."""

    __slots__ = ()
