"""The one path every input record takes, live or replayed: decoded into what it is, then
taken by the state it changes.

The worker's agents and the replay engine both call `decode_record` and `take`; "a
replay decides what the live worker decided" rests on there being one copy of this
dispatch. Where the states live (Faust tables behind the write-behind, or a replay's
dicts) is the caller's `Store`; storing the state an input made, and publishing its
outputs, stay with the caller too (the worker's outbox, the replay's lists).
"""

from typing import Protocol, cast

from schemas.inputs import ContactRoster, SpendEvent
from streams.logic.inputs.apply import Effect, apply_event, apply_removal, apply_roster
from streams.logic.inputs.decode import (
    INPUT_MODELS,
    Coords,
    Event,
    InputKind,
    decode,
    decode_roster,
    owner_of,
    tombstone_owner,
)
from streams.logic.rules import Rules
from streams.logic.state.roster import Roster, Rosters, received
from streams.logic.state.state import AccountState

__all__ = [
    "AccountInput",
    "CampaignSpend",
    "InputRecord",
    "Removal",
    "RosterInput",
    "Store",
    "Taken",
    "decode_record",
    "record_of",
    "take",
]


# Plain classes, not dataclasses: one is made per record, and mypyc compiles a plain
# class's constructor while a dataclass's is generated Python (a replay paid ~10% for it).


class AccountInput:
    """An event or a profile, applied to its account's state."""

    __slots__ = ("event", "owner")

    def __init__(self, owner: str, event: Event) -> None:
        self.owner = owner
        self.event = event


class CampaignSpend:
    """Spend tied to no account: its state is the campaign's (keyed by campaign_id), and it
    counts in the overall ROI only."""

    __slots__ = ("event", "owner")

    def __init__(self, owner: str, event: SpendEvent) -> None:
        self.owner = owner
        self.event = event


class RosterInput:
    """An account's new contact roster; None (a tombstone) clears it."""

    __slots__ = ("owner", "roster")

    def __init__(self, owner: str, roster: ContactRoster | None) -> None:
        self.owner = owner
        self.roster = roster


class Removal:
    """A profile's tombstone: the account is removed."""

    __slots__ = ("owner",)

    def __init__(self, owner: str) -> None:
        self.owner = owner


InputRecord = AccountInput | CampaignSpend | RosterInput | Removal


def decode_record(kind: InputKind, key: bytes | None, value: bytes | None) -> InputRecord:
    """What one record of `kind` is; raise Rejected with the reason it is not valid."""
    if kind is InputKind.CONTACTS:
        owner, roster = decode_roster(key, value)
        return RosterInput(owner, roster)
    if kind is InputKind.ACCOUNTS and value is None:
        return Removal(tombstone_owner(key))
    return record_of(cast(Event, decode(INPUT_MODELS[kind], key, value)))


def record_of(event: Event) -> AccountInput | CampaignSpend:
    """A decoded event as the state it changes: its account's, or its campaign's."""
    if isinstance(event, SpendEvent) and event.account_id is None:
        return CampaignSpend(event.campaign_id, event)
    return AccountInput(owner_of(event), event)


class Store(Protocol):
    """Where the states an input reads live: the worker's tables, a replay's dicts."""

    @property
    def rosters(self) -> Rosters:
        """Every roster, as the decisions read them (the one `put_roster` stored included)."""
        ...

    def account(self, owner: str) -> AccountState | None: ...

    def campaign(self, owner: str) -> AccountState | None: ...

    def put_roster(self, owner: str, roster: Roster, partition: int) -> None: ...


class Taken:
    """What one record did. `effect` holds the account's (or, with `campaign`, the
    campaign's) state after it and the outputs it made, for the caller to store and send;
    None when no account state was touched (a roster of an account not seen yet)."""

    __slots__ = ("campaign", "duplicate", "effect")

    def __init__(
        self, duplicate: bool, effect: Effect | None = None, campaign: bool = False
    ) -> None:
        self.duplicate = duplicate
        self.effect = effect
        self.campaign = campaign


def take(record: InputRecord, coords: Coords, store: Store, rules: Rules, now: int) -> Taken:
    """Apply one decoded record from `coords`; raise Rejected for an event the state
    refuses (late, future, an unknown stage). A roster is stored here (the re-tiering reads
    it); every other state is the caller's to store."""
    if isinstance(record, AccountInput):
        state = store.account(record.owner)
        effect = apply_event(state, record.event, coords, rules, now, store.rosters)
        return Taken(effect.duplicate, effect)
    if isinstance(record, CampaignSpend):
        state = store.campaign(record.owner)
        effect = apply_event(state, record.event, coords, rules, now, store.rosters)
        return Taken(effect.duplicate, effect, campaign=True)
    if isinstance(record, RosterInput):
        return _take_roster(record, coords, store, rules)
    removed = apply_removal(store.account(record.owner), rules, coords, store.rosters)
    return Taken(removed is not None and removed.duplicate, removed)


def _take_roster(record: RosterInput, coords: Coords, store: Store, rules: Rules) -> Taken:
    """The roster replaces the account's; an account with a state is re-tiered (an account
    is not made by a roster alone)."""
    current = store.rosters.get(record.owner)
    roster = received(
        current, record.owner, record.roster, coords.source, coords.offset, coords.timestamp
    )
    if roster is None:
        return Taken(duplicate=True)
    store.put_roster(record.owner, roster, coords.partition)
    state = store.account(record.owner)
    return Taken(False, None if state is None else apply_roster(state, rules, store.rosters))
