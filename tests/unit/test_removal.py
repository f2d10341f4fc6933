"""Removing an account (a tombstone on the profiles topic): the last changes say so, and
the figures are those of a history that never had it."""

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import to_ms
from streams.logic.inputs.apply import apply_removal
from streams.logic.inputs.decode import Coords, InputKind, owner_of
from streams.logic.inputs.records import Removal, record_of
from streams.logic.rules import Rules
from streams.replay.engine import Item, Replay
from tests.factories import DAY, T0, WALL, deal, engagement, intent, profile, replay

RULES = Rules()
ACCOUNTS = ["a", "b", "c", "d"]


def test_removal_ends_with_a_last_tier_and_stage_change():
    state, _, _ = replay(
        [
            profile(fit=85, acv=60_000, owner="alice@example.com"),
            intent(at=T0, score=65),
            engagement(at=T0 + 1000, action="meeting", contact="c1"),
            engagement(at=T0 + 2000, action="email_click", contact="c2"),
        ]
    )
    tier, version, stage = state.tier, state.version, state.stage
    assert (tier, stage) == (1, "engaged")
    removed = apply_removal(state, RULES, Coords("abm.accounts.v1", 0, 99, T0))
    assert removed is not None
    assert removed.removed
    change, moved = removed.change, removed.stage_change
    assert (change.previous_tier, change.tier, change.rule) == (tier, 0, "removed")
    assert change.version == version + 1
    assert (change.account_name, change.owner) == ("Acme", "alice@example.com")
    assert (moved.previous_stage, moved.stage, moved.rule) == (stage, "unaware", "removed")
    assert moved.changed_at == change.changed_at


def test_nothing_to_remove_and_a_redelivered_tombstone():
    assert apply_removal(None, RULES, Coords("abm.accounts.v1", 0, 5, T0)) is None
    state, _, _ = replay([profile()])
    source = next(iter(state.applied))
    topic, partition = source.rsplit(":", 1)
    again = apply_removal(state, RULES, Coords(topic, int(partition), state.applied[source], T0))
    assert again is not None
    assert again.duplicate
    assert not again.write


@st.composite
def histories(draw):
    events = [profile(account=a) for a in ACCOUNTS]
    for i in range(draw(st.integers(1, 60))):
        account = draw(st.sampled_from(ACCOUNTS))
        at = T0 + draw(st.integers(0, 40 * DAY))
        kind = draw(st.sampled_from(["e", "e", "i", "d"]))
        if kind == "e":
            contact = draw(st.sampled_from(["c1", "c2", "c3"]))
            events.append(engagement(account=account, at=at, contact=contact, event_id=f"x{i}"))
        elif kind == "i":
            events.append(intent(account=account, at=at, score=70.0, event_id=f"x{i}"))
        else:
            stage = draw(st.sampled_from(RULES.stages))
            events.append(deal(account=account, at=at, stage=stage, event_id=f"x{i}"))
    return events


def run(events, removed=()):
    """A replay of `events` (profiles first, as replay reads them), with a tombstone for
    each account in `removed` on the profiles topic. No staleness ticks: the other
    accounts' events would move the partition's time on, and with it everyone's."""
    engine, offsets = Replay(RULES, WALL, ticks=False), iter(range(10**6))
    for event in events:
        profile = event.__class__.__name__ == "AccountProfile"
        kind = InputKind.ACCOUNTS if profile else InputKind.ENGAGEMENT
        at = 0 if profile else to_ms(getattr(event, "occurred_at", None) or WALL)
        coords = Coords(f"abm.{kind}.v1", 0, next(offsets), at or T0)
        record = record_of(event)
        engine.feed(Item(kind, coords, at, record, owner=record.owner))
    for account in removed:
        coords = Coords("abm.accounts.v1", 0, next(offsets), T0)
        engine.feed(Item(InputKind.ACCOUNTS, coords, 0, Removal(account), owner=account))
    engine.finish()
    return engine.outcome()


@settings(max_examples=60, deadline=None)
@given(histories(), st.sets(st.sampled_from(ACCOUNTS)))
def test_figures_after_removal_are_those_of_a_history_without_the_accounts(events, removed):
    with_removal = run(events, sorted(removed))
    never = run([e for e in events if owner_of(e) not in removed])
    assert set(with_removal.tiers) == set(ACCOUNTS) - removed
    assert with_removal.tiers == never.tiers
    assert with_removal.stages == never.stages
    assert with_removal.counters == never.counters
    last = {}
    for change in with_removal.changes:
        last[change["account_id"]] = change
    for account in removed:
        assert (last[account]["tier"], last[account]["rule"]) == (0, "removed")
    finals = [c for c in with_removal.stage_changes if c["rule"] == "removed"]
    assert sorted(c["account_id"] for c in finals) == sorted(removed)
