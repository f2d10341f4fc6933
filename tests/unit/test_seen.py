"""The remembered event ids: checked against a plain dict, through storing and reading back."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.inputs.apply import DEDUP_DAYS, apply_event
from streams.logic.rules import Rules
from streams.logic.state.seen import BUDGET, SeenIds
from streams.logic.state.state import AccountState
from tests.factories import DAY, T0, WALL, coords, engagement, replay

KINDS = ["e", "i", "d"]
IDS = st.text("abc:._@/+-09", min_size=1, max_size=6)

step = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(KINDS), IDS, st.integers(0, 3)),
    st.tuples(st.just("forget"), st.sampled_from(KINDS), st.integers(0, 20)),
    st.tuples(
        st.just("store"),
    ),
)


@given(st.lists(step, max_size=60))
def test_seen_ids_agree_with_a_dict_of_every_id(steps):
    seen, model = SeenIds(), {}
    newest = dict.fromkeys(KINDS, 0)
    for action, *args in steps:
        if action == "add":
            kind, event_id, ahead = args
            assert seen.has(f"{kind}:{event_id}") == ((kind, event_id) in model)
            if (kind, event_id) not in model:  # as apply_event: only an id not yet seen
                newest[kind] += ahead  # on a day no older than its kind's newest
                seen.add(f"{kind}:{event_id}", newest[kind])
                model[(kind, event_id)] = newest[kind]
        elif action == "forget":
            kind, cutoff = args
            seen.forget({kind: cutoff})
            model = {key: day for key, day in model.items() if key[0] != kind or day >= cutoff}
        else:
            stored = orjson.loads(orjson.dumps(seen.stored()))
            seen = SeenIds.load(stored)
        assert len(seen) == len(model)
        for kind, event_id in model:
            assert seen.has(f"{kind}:{event_id}")
    rebuilt = SeenIds()
    for (kind, event_id), day in sorted(model.items(), key=lambda item: item[1]):
        rebuilt.add(f"{kind}:{event_id}", day)
    assert seen == rebuilt


def test_a_record_stored_with_ids_as_keys_reads_into_the_joined_form():
    old = {"e:a1": 20_000, "i:a1": 20_001, "e:b2": 20_001}
    seen = SeenIds.load(old)
    assert seen.has("e:a1")
    assert seen.has("i:a1")
    assert seen.has("e:b2")
    assert not seen.has("d:a1")
    assert seen.stored() == {"e": {"20000": "a1", "20001": "b2"}, "i": {"20001": "a1"}}


def test_ids_are_stored_joined_per_day_and_a_resent_event_stays_a_duplicate():
    state, *_ = replay([engagement(event_id=f"e{n}", at=T0 + n) for n in range(3)])
    stored = orjson.loads(state.to_json())["seen"]
    assert stored == {"e": {str(T0 // DAY): "e0 e1 e2"}}
    restored = AccountState.from_json(state.to_json())
    again = apply_event(
        restored, engagement(event_id="e1", at=T0), coords(offset=99), Rules(), WALL
    )
    assert again.duplicate
    assert not again.write


def test_ids_are_forgotten_seven_days_after_their_kind_moved_on():
    late = T0 + (DEDUP_DAYS + 1) * DAY
    state, *_ = replay([engagement(event_id="old", at=T0), engagement(event_id="new", at=late)])
    assert not state.seen.has("e:old")
    assert state.seen.has("e:new")


@settings(max_examples=30, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 128), min_size=1, max_size=8),
    count=st.integers(1, 12_000),
)
def test_the_remembered_ids_stay_within_their_budget_the_newest_kept(lengths, count):
    """A hot account's distinct ids (ad impressions by the thousand) cannot grow its state
    record past what the broker takes: the oldest leave, counted."""
    seen = SeenIds()
    keys = [f"e:{n:06d}{'x' * lengths[n % len(lengths)]}" for n in range(count)]
    for n, key in enumerate(keys):
        seen.add(key, n // 2000)
    days = seen.stored()["e"].values()
    assert sum(len(f"e:{i}") for ids in days for i in ids.split(" ")) <= BUDGET
    kept = [k for k in keys if seen.has(k)]
    assert kept == keys[len(keys) - len(kept) :]  # the newest, all of them
    assert seen.evicted == count - len(kept)
    restored = SeenIds.load(seen.stored())
    assert restored == seen
    restored.add("e:one-more", count // 2000)
    assert restored.has("e:one-more")


def test_a_hot_account_s_state_record_stays_far_below_the_brokers_limit():
    """40,000 distinct ad impressions in six days made a 1,007,274-byte record, which the
    broker refused, and the worker stopped; now the oldest ids give way."""
    rules = Rules()
    state = None
    for n in range(40_000):
        event = engagement(
            event_id=f"impression-{n:08d}-campaign-spring",
            action="ad_impression",
            at=T0 + n * (6 * DAY // 40_000),
            contact=None,
        )
        state = apply_event(state, event, coords(), rules, WALL).state
    assert state is not None
    assert len(state.to_json()) < 500_000
    assert state.seen.evicted > 0
