"""One rule set's pass over history: the live pipeline's decisions, without Faust.

The same functions as the agents: each record goes through the one dispatch the ingest
agent calls (logic/inputs/records.py: decode_record, take; this engine is the `Store`),
ticks through apply_tick, figures through contribution and report; so a replay decides
what the live worker decided on the same records. The staleness timer
is simulated exactly: an account is ticked at each moment it is due, before its next
event, and once more at its partition's stream time at the end (the live timer ticks at
the stream time whenever it fires, so live tick-driven changes can be coarser).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.inputs import AccountProfile
from schemas.outputs import AlertOutcome, StageChange, SurgeAlert, TierChange
from streams.logic.inputs.apply import Effect, apply_tick
from streams.logic.inputs.decode import Coords, InputKind, Rejected
from streams.logic.inputs.records import (
    AccountInput,
    CampaignSpend,
    InputRecord,
    Removal,
    RosterInput,
    take,
)
from streams.logic.kpis.kpi_report import report
from streams.logic.kpis.kpis import Bag, contribution, spend_contribution
from streams.logic.rules import Rules
from streams.logic.state.roster import Roster
from streams.logic.state.state import AccountState
from streams.logic.state.ticks import advance
from streams.replay.erasures import ERASED, ErasurePlan

__all__ = ["Item", "Outcome", "Replay"]


@dataclass(slots=True)
class Item:
    """One input record, decoded once (or rejected) and shared by every rule set."""

    kind: InputKind
    coords: Coords
    at: int
    """Event time (ms) the merge orders by; a profile's is its place in its own stream."""
    record: InputRecord | None = None
    """None when rejected."""
    rejected: Rejected | None = None
    owner: str = ""
    """The record's owner, kept beside it for the grouping's sort; "" when rejected."""


def _by_account(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Outputs grouped by account, each account's in the order they were decided: the same
    list however the accounts were split between processes."""
    return sorted(rows, key=lambda row: row["account_id"])


@dataclass
class Outcome:
    """Everything a report needs from one rule set's pass over some partitions, without the
    account states: small enough to send back from a process, and outcomes of disjoint
    partitions combine into the outcome of all of them."""

    tiers: dict[str, tuple[int, str]]
    owners: dict[str, str | None]
    """Each account's owner (its profile's), to tell which routes hear of its tier-ups."""
    counters: Counter[str]
    """KPI contributions summed over the accounts (and campaigns)."""
    stages: dict[str, str]
    """Each account's journey stage at the end."""
    changes: list[dict[str, Any]]
    stage_changes: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    alert_outcomes: list[dict[str, Any]]
    """The outcomes of alerts whose horizon passed by the end (open ones have none yet)."""
    rejected: Counter[str]
    applied: int
    duplicates: int
    stream_time: dict[int, int]

    def as_of(self) -> int:
        return max(self.stream_time.values(), default=0)

    def kpis(self, rules: Rules, as_of: int | None = None) -> dict[str, Any]:
        return report(self.counters, self.as_of() if as_of is None else as_of, rules)

    @classmethod
    def combine(cls, parts: Sequence["Outcome"]) -> "Outcome":
        if len(parts) == 1:
            return parts[0]
        return cls(
            tiers=dict(sorted(t for part in parts for t in part.tiers.items())),
            owners=dict(sorted(o for part in parts for o in part.owners.items())),
            counters=sum((part.counters for part in parts), Counter()),
            stages=dict(sorted(s for part in parts for s in part.stages.items())),
            changes=_by_account([c for part in parts for c in part.changes]),
            stage_changes=_by_account([c for part in parts for c in part.stage_changes]),
            alerts=_by_account([a for part in parts for a in part.alerts]),
            alert_outcomes=_by_account([o for part in parts for o in part.alert_outcomes]),
            rejected=sum((part.rejected for part in parts), Counter()),
            applied=sum(part.applied for part in parts),
            duplicates=sum(part.duplicates for part in parts),
            stream_time={p: t for part in parts for p, t in part.stream_time.items()},
        )


@dataclass
class Replay:
    rules: Rules
    wall_now: int
    ticks: bool = True
    accounts: dict[str, AccountState] = field(default_factory=dict)
    campaigns: dict[str, AccountState] = field(default_factory=dict)
    rosters: dict[str, Roster] = field(default_factory=dict)
    removing: dict[str, Coords] = field(default_factory=dict)
    """Accounts whose profile's latest record is a tombstone, removed at the end."""
    changes: list[TierChange] = field(default_factory=list)
    stage_changes: list[StageChange] = field(default_factory=list)
    alerts: list[SurgeAlert] = field(default_factory=list)
    alert_outcomes: list[AlertOutcome] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    applied: int = 0
    duplicates: int = 0
    stream_time: dict[int, int] = field(default_factory=dict)
    erasures: ErasurePlan | None = None
    """The erasure requests, applied to the records made before them (replay/erasures.py);
    None when there are none."""

    def feed(self, item: Item) -> None:
        record = item.record
        if self.erasures is not None and record is not None and self.erasures.concerns(item.owner):
            record = self.erasures.applied(item.owner, item.coords.timestamp, record)
            if record is None:
                self.rejected[ERASED] += 1
                return
        if record is None:
            reason = item.rejected.reason if item.rejected else "invalid_payload"
            self.rejected[str(reason)] += 1
            return
        # `type(...) is`: the record classes have no subclasses, and this runs per record.
        kind = type(record)
        if kind is Removal:
            # Profiles are read before the events (their topic holds each account's
            # latest word): a tombstone there removes the account after its history.
            self.removing[record.owner] = item.coords
            return
        if kind is AccountInput and type(record.event) is AccountProfile:  # type: ignore[union-attr]
            if self.removing:
                self.removing.pop(record.owner, None)  # a profile after the tombstone: back
        elif self.ticks and kind is not RosterInput:
            table = self.campaigns if kind is CampaignSpend else self.accounts
            if (state := table.get(record.owner)) is not None:
                self._tick_until(state, item.at)
        effect = self._take(record, item.coords)
        if effect is not None:
            self._publish(effect)

    def _take(self, record: InputRecord, coords: Coords) -> Effect | None:
        """The record taken and counted; what it applied, unless a duplicate."""
        try:
            taken = take(record, coords, self, self.rules, self.wall_now)
        except Rejected as why:
            self.rejected[str(why.reason)] += 1
            return None
        if taken.duplicate:
            self.duplicates += 1
            return None
        effect = taken.effect
        if effect is None:
            self.applied += type(record) is not Removal  # no state: nothing was removed
            return None
        self.applied += 1
        if not effect.removed:
            (self.campaigns if taken.campaign else self.accounts)[record.owner] = effect.state
        return effect

    def _remove(self, owner: str, coords: Coords) -> None:
        """The account's last changes, then it is gone."""
        effect = self._take(Removal(owner), coords)
        if effect is not None:
            self._publish(effect)
            del self.accounts[owner]

    # The Store the records are taken from (logic/records.py).

    def account(self, owner: str) -> AccountState | None:
        return self.accounts.get(owner)

    def campaign(self, owner: str) -> AccountState | None:
        return self.campaigns.get(owner)

    def put_roster(self, owner: str, roster: Roster, partition: int) -> None:
        self.rosters[owner] = roster

    def _publish(self, effect: Effect) -> None:
        if effect.change is not None:
            self.changes.append(effect.change)
        if effect.stage_change is not None:
            self.stage_changes.append(effect.stage_change)
        self.alerts.extend(effect.alerts)
        self.alert_outcomes.extend(effect.outcomes)
        advance(self.stream_time, effect.state.partition, effect.state.clock)

    def _tick_until(self, state: AccountState, until: int) -> None:
        while state.due_at is not None and state.due_at <= until:
            due = state.due_at
            self._publish(apply_tick(state, self.rules, due, self.rosters))
            if state.due_at == due:  # nothing moved it on: it would tick forever
                break

    def finish(self) -> None:
        """Time passes to each partition's newest event time, as the live timer would;
        then the accounts whose profile was tombstoned are removed."""
        if self.ticks:
            for state in self.accounts.values():
                now = self.stream_time.get(state.partition or 0)
                if now is not None:
                    self._tick_until(state, now)
        for owner, coords in self.removing.items():
            self._remove(owner, coords)
        self.removing.clear()

    def outcome(self) -> Outcome:
        bag: Bag = {}
        for account_id, state in self.accounts.items():
            contribution(state, self.rules, bag, self.rosters.get(account_id))
        counters = Counter(bag)
        for state in self.campaigns.values():
            counters.update(spend_contribution(state.account_id, state.spend))
        return Outcome(
            tiers={a: (s.tier, s.rule) for a, s in sorted(self.accounts.items())},
            owners={
                a: s.profile.owner if s.profile else None for a, s in sorted(self.accounts.items())
            },
            counters=counters,
            stages={a: s.stage for a, s in sorted(self.accounts.items())},
            changes=_by_account([c.model_dump(mode="json") for c in self.changes]),
            stage_changes=_by_account([c.model_dump(mode="json") for c in self.stage_changes]),
            alerts=_by_account([a.model_dump(mode="json") for a in self.alerts]),
            alert_outcomes=_by_account([o.model_dump(mode="json") for o in self.alert_outcomes]),
            rejected=self.rejected,
            applied=self.applied,
            duplicates=self.duplicates,
            stream_time=self.stream_time,
        )
