"""An account's stored record stays under what a broker takes, whatever the account is sent:
the open-ended kinds stop at rules.limits (the stalest held makes room), and what is left
sheds, cheapest first, when a record would outgrow its bound."""

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import RECORD_MAX_BYTES
from streams.logic.inputs.apply import apply_event
from streams.logic.rules import Limits, Rules
from streams.logic.state.bounds import SHEDDABLE, STATE_MAX_BYTES, fitted
from streams.logic.state.state import AccountState
from streams.logic.state.windows import day_of
from tests.factories import DAY, T0, WALL, coords, deal, engagement, intent, spend

LONG = "x" * 100
"""An id near the longest an id may be (128), so bounds meet their worst case."""


def applied(events, rules: Rules, state: AccountState | None = None) -> AccountState:
    for event in events:
        state = apply_event(state, event, coords(), rules, WALL).state
    assert state is not None
    return state


def test_at_its_intent_limits_an_account_drops_the_stalest_topic_or_provider():
    rules = Rules(limits=Limits(intent_topics=3, intent_providers=2))
    state = applied([intent(topic=f"topic-{n}", at=T0 + n * DAY) for n in range(3)], rules)
    fresh = apply_event(state, intent(topic="topic-3", at=T0 + 5 * DAY), coords(), rules, WALL)
    assert fresh.limited == "intent_topics"
    assert sorted(state.intent) == ["topic-1", "topic-2", "topic-3"]  # topic-0 was stalest
    stale = apply_event(state, intent(topic="topic-9", at=T0), coords(), rules, WALL)
    assert stale.limited == "intent_topics"
    assert "topic-9" not in state.intent  # staler than all it holds: kept out
    state = applied([intent(topic="topic-3", provider="g2", at=T0 + 5 * DAY)], rules, state)
    third = apply_event(
        state, intent(topic="topic-3", provider="third", at=T0 + 6 * DAY), coords(), rules, WALL
    )
    assert third.limited == "intent_providers"
    assert sorted(state.intent["topic-3"]) == ["g2", "third"]  # the first name among equals


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 30)), min_size=1, max_size=60))
def test_the_intent_an_account_holds_never_passes_its_limit(news):
    limits = Limits(intent_topics=4, intent_providers=2)
    rules = Rules(limits=limits)
    events = [
        intent(topic=f"t{n % 6}", provider=f"p{n // 6}", at=T0 + day * DAY) for n, day in news
    ]
    state = applied(events, rules)
    assert len(state.intent) <= limits.intent_topics
    assert all(len(by) <= limits.intent_providers for by in state.intent.values())
    newest = day_of(T0 + max(day for _, day in news) * DAY)  # the freshest news is held
    assert any(newest in days for by in state.intent.values() for days in by.values())


def test_at_its_opportunity_limit_an_account_drops_the_earliest_closed_one():
    rules = Rules(limits=Limits(opportunities=2))
    state = applied([deal(opp="o1", stage="closed_won", at=T0 + DAY), deal(opp="o2", at=T0)], rules)
    effect = apply_event(state, deal(opp="o3", at=T0 + 2 * DAY), coords(), rules, WALL)
    assert effect.limited == "opportunities"
    assert sorted(state.opportunities) == ["o2", "o3"]
    applied([deal(opp="o4", at=T0 + 3 * DAY)], rules, state)
    assert sorted(state.opportunities) == ["o3", "o4"]  # all open: the one quiet longest


def test_past_its_campaign_limit_an_account_still_counts_the_engagement():
    rules = Rules(limits=Limits(campaigns=2))
    events = [engagement(campaign_id=f"camp-{n}", event_id=f"e{n}") for n in range(3)]
    spent = [spend(campaign=c, event_id=f"s-{c}") for c in ("camp-0", "camp-9", "camp-8")]
    state = applied([*events, *spent], rules)
    assert apply_event(state, spend(campaign="camp-7"), coords(), rules, WALL).limited == (
        "campaigns"
    )
    assert sorted(state.campaigns) == ["camp-0", "camp-1"]
    assert sorted(state.campaign_spend) == ["camp-0", "camp-9"]
    assert sum(state.spend.values()) == 4 * 1_000 * 1_000_000  # every spend counts
    assert sum(b.actions["page_view"] for b in state.engagement.values()) == 3


def _crowded(days: int, per_day: int, campaigns: int) -> AccountState:
    """One account with the longest ids, as many contacts as a day keeps, and campaigns."""
    rules = Rules()
    events = [
        engagement(
            event_id=f"{LONG}-{day}-{n}",
            contact=f"{LONG}-{day}-{n}",
            campaign_id=f"{LONG}-{n % campaigns}",
            at=T0 + day * DAY,
        )
        for day in range(days)
        for n in range(per_day)
    ]
    return applied(events, rules)


def test_a_record_past_its_bound_sheds_the_cheapest_first_and_fits():
    state = _crowded(days=35, per_day=400, campaigns=50)
    assert len(state.to_json()) > STATE_MAX_BYTES  # the worst case is real
    points = [b.points for b in state.engagement.values()]
    record = fitted(state)
    assert len(record.raw) <= STATE_MAX_BYTES
    assert record.shed[0] == "seen"
    assert record.shed == [part for part in SHEDDABLE if part in record.shed]
    assert record.raw == state.to_json()  # what is stored is what the worker keeps
    assert [b.points for b in state.engagement.values()] == points
    newest = max(state.engagement)
    assert state.engagement[newest].contacts  # the oldest days' contacts went first


@settings(max_examples=25, deadline=None)
@given(
    days=st.integers(1, 35),
    per_day=st.integers(1, 120),
    campaigns=st.integers(1, 200),
)
def test_any_record_within_its_bound_is_stored_whole(days, per_day, campaigns):
    state = _crowded(days, per_day, campaigns)
    before = state.to_json()
    record = fitted(state)
    assert len(record.raw) <= STATE_MAX_BYTES < RECORD_MAX_BYTES
    if len(before) <= STATE_MAX_BYTES:
        assert (record.raw, record.shed) == (before, [])
