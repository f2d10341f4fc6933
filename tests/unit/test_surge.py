"""Surge detection and alert hygiene, as properties over generated traffic.

Traffic is a list of daily point counts (page views worth 1 point each); the detector
sees it event by event, as the agents do.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.rules import Rules, SurgeRules
from streams.logic.signals.aggregates import aggregate
from streams.logic.signals.surge import (
    engagement_enters,
    engagement_stays,
    intent_enters,
    intent_stays,
    read_engagement,
    read_intent,
)
from streams.logic.state.state import AccountState, DayBucket
from tests.factories import DAY, T0, engagement, intent, profile, replay

RULES = Rules()
WARM_UP = 35  # days of history before the baseline is whole
START = T0 // DAY * DAY  # a UTC midnight: traffic days are the detector's calendar days


def daily(counts, account="acme", start=START):
    """One page view per point, spread over each day, three contacts taking turns."""
    events = [profile(account=account)]
    for day, count in enumerate(counts):
        for i in range(count):
            at = start + day * DAY + i * (DAY // (count + 1))
            events.append(engagement(account=account, at=at, contact=f"c{i % 3}"))
    return events


def alerts_after(alerts, day, kind="engagement"):
    return [
        a
        for a in alerts
        if a.kind == kind and a.detected_at.timestamp() * 1000 >= START + day * DAY
    ]


@settings(max_examples=20, deadline=None)
@given(per_day=st.integers(2, 12), days=st.integers(WARM_UP + 7, WARM_UP + 28))
def test_flat_traffic_never_alerts_once_it_has_a_baseline(per_day, days):
    _, _, alerts = replay(daily([per_day] * days))
    assert alerts_after(alerts, WARM_UP) == []


@settings(max_examples=20, deadline=None)
@given(base=st.integers(15, 25), growth=st.floats(0.97, 1.02), days=st.integers(45, 65))
def test_slowly_varying_traffic_never_alerts(base, growth, days):
    counts = [round(base * growth**d) for d in range(days)]
    _, _, alerts = replay(daily(counts))
    assert alerts_after(alerts, WARM_UP) == []


@settings(max_examples=20, deadline=None)
@given(
    base=st.integers(2, 6),
    factor=st.integers(3, 8),
    step_days=st.integers(7, 20),
    after=st.integers(0, 30),
)
def test_a_step_up_alerts_exactly_once_per_episode(base, factor, step_days, after):
    counts = [base] * WARM_UP + [base * factor] * step_days + [base] * after
    _, _, alerts = replay(daily(counts))
    late = alerts_after(alerts, WARM_UP)
    assert len(late) == 1
    alert = late[0]
    crossing = math.ceil(7 / (factor - 1))  # days of the step until 7d >= 2 x baseline
    assert alert.detected_at.timestamp() * 1000 < START + (WARM_UP + crossing) * DAY
    assert alert.baseline == pytest.approx(7 * base)
    assert alert.engaged_contacts == 3
    assert alert.top_channels[0].channel == "web"


@st.composite
def sparse(draw):
    """Random traffic that never has 10 points in any 7 days."""
    counts: list[int] = []
    for _ in range(draw(st.integers(7, 80))):
        wanted = draw(st.integers(0, 4))
        room = 9 - sum(counts[-6:])
        counts.append(max(0, min(wanted, room)))
    return counts


@settings(max_examples=60, deadline=None)
@given(sparse())
def test_below_the_minimum_volume_never_alerts(counts):
    _, _, alerts = replay(daily(counts))
    assert [a for a in alerts if a.kind == "engagement"] == []


@settings(max_examples=30, deadline=None)
@given(base=st.integers(2, 6), factor=st.integers(3, 6), step_days=st.integers(7, 14))
def test_replay_gives_the_same_alert_ids(base, factor, step_days):
    events = daily([0] * 3 + [base] * WARM_UP + [base * factor] * step_days)
    first = [a.alert_id for a in replay(events)[2]]
    again = [a.alert_id for a in replay(events)[2]]
    assert first
    assert first == again
    # Redelivered events (same ids) after the fact change nothing.
    state, _, _ = replay(events)
    assert replay(events[1:], state)[2] == []


def test_second_burst_inside_the_cooldown_is_silent_and_after_it_alerts():
    quiet = [3] * WARM_UP
    # A one-day burst enters; a week later it has left (exit); a burst 9 days after the
    # first re-enters inside the 14-day cool-down: a surge in the view, but no alert.
    state, _, alerts = replay(daily([*quiet, 33, *[3] * 8, 60]))
    assert len(alerts_after(alerts, WARM_UP)) == 1
    assert state.surges["engagement"].active
    # Re-entering after the cool-down alerts again (the baseline now holds the first burst).
    _, _, alerts = replay(daily([*quiet, 33, *[3] * 20, 80]))
    assert len(alerts_after(alerts, WARM_UP)) == 2


def test_an_episode_alerts_once_however_long_it_lasts():
    _, _, alerts = replay(daily([3] * WARM_UP + [30] * 7 + [0] * 2 + [30] * 7))
    assert len(alerts_after(alerts, WARM_UP)) == 1


def test_hysteresis_keeps_a_surge_open_between_exit_and_enter():
    state = AccountState("acme")
    state.engagement = {d: _bucket(10) for d in range(-35, -7)}  # baseline: 70 points a week
    for points, enter, stay in [(140, True, True), (110, False, True), (100, False, False)]:
        state.engagement.update({d: _bucket(points / 7) for d in range(-6, 1)})
        seen = aggregate(state, RULES, 0)
        reading = read_engagement(seen.week, seen.before, RULES.surge)
        assert (reading.enter, reading.stay) == (enter, stay), points


def _bucket(points):
    return DayBucket(points=points)


@settings(max_examples=30, deadline=None)
@given(score=st.floats(30, 100), days=st.integers(WARM_UP + 7, 90))
def test_flat_intent_alerts_at_most_once_and_never_after_the_warm_up(score, days):
    events = [profile()] + [intent(at=START + d * DAY, score=score) for d in range(days)]
    _, _, alerts = replay(events)
    intent_alerts = [a for a in alerts if a.kind == "intent"]
    assert len(intent_alerts) <= 1
    assert alerts_after(alerts, WARM_UP, kind="intent") == []


def test_provider_score_at_60_alerts_with_its_topics():
    events = [profile(), intent(score=40, topic="erp"), intent(at=T0 + 1, score=61, topic="crm")]
    _, _, alerts = replay(events)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind == "intent"
    assert [t.topic for t in alert.topics] == ["crm"]  # erp at 40 is new, not surging
    assert alert.topics[0].ratio is None  # no baseline yet: new, not infinitely hot
    assert alert.owner is None
    assert alert.tier == 2


def test_tier_filter_suppresses_alerts_for_other_tiers():
    rules = Rules(surge=SurgeRules(alert_tiers=[1]))
    events = [profile(acv=10_000), intent(score=90)]  # tier 2
    _, _, alerts = replay(events, rules=rules)
    assert alerts == []


scores = st.floats(0, 100, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    highs=st.dictionaries(
        st.sampled_from(["crm", "erp", "security"]), st.lists(scores, min_size=5, max_size=5)
    ),
    week=st.floats(0, 500, allow_nan=False),
    before=st.floats(0, 2000, allow_nan=False),
)
def test_the_quick_answers_agree_with_the_readings(highs, week, before):
    """Evaluations ask only "does it enter / stay?" and build a reading only for an alert:
    both ways must say the same, at every threshold (zero baselines and ties included)."""
    rules = RULES.surge
    intent = read_intent(highs, rules)
    assert (intent_enters(highs, rules), intent_stays(highs, rules)) == (intent.enter, intent.stay)
    engaged = read_engagement(week, before, rules)
    assert (engagement_enters(week, before, rules), engagement_stays(week, before, rules)) == (
        engaged.enter,
        engaged.stay,
    )
