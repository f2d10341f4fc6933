"""The per-day window cache moved event by event equals the windows recomputed from the
buckets, exactly, whatever the weights, arrival order, lateness and ticks."""

import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.inputs.apply import apply_event, apply_tick
from streams.logic.inputs.decode import Rejected
from streams.logic.rules import Rules
from streams.logic.signals.aggregates import Aggregates, aggregate, cached
from tests.factories import DAY, T0, WALL, coords, engagement, intent, profile

ACTIONS = ["page_view", "email_click", "meeting", "ad_impression", "form_submit"]
# Thirds and tenths do not add up exactly in binary floating point: the sums must anyway.
WEIGHTS = {"page_view": 0.1, "email_click": 1 / 3, "meeting": 7.7, "form_submit": 2.5}
RULES = Rules(weights=WEIGHTS)
SHORT = Rules(
    weights=WEIGHTS,
    engagement_window_days=3,
    intent_window_days=5,
    journey_window_days=4,
    surge={"baseline_weeks": 1},
    retention_days=16,
)
"""Windows shorter than a week, and a retention barely past them: the edges a roll
crosses fall on the same days, and pruning drops days the windows still counted."""


FIELDS = [
    name
    for name, attr in vars(Aggregates).items()
    if inspect.isdatadescriptor(attr) and not name.startswith("__") and name != "rules"
]
"""Every attribute (slot, or a compiled class's descriptor) and derived property."""


def _fields(a: Aggregates) -> dict:
    return {name: getattr(a, name) for name in FIELDS}


@st.composite
def traffic(draw):
    """Events over ~10 weeks, many on the same days (where the cache moves), some late."""
    steps = []
    for i in range(draw(st.integers(1, 80))):
        at = T0 + draw(st.integers(0, 70)) * DAY + draw(st.integers(0, DAY - 1))
        if draw(st.integers(0, 9)) == 0:
            steps.append(("tick", at))
        elif draw(st.booleans()):
            contact = draw(st.sampled_from(["c1", "c2", "c3", None]))
            action = draw(st.sampled_from(ACTIONS))
            steps.append(
                ("event", engagement(at=at, action=action, contact=contact, event_id=f"x{i}"))
            )
        else:
            score = draw(st.floats(0, 100))
            topic = draw(st.sampled_from(["crm", "erp", "security"]))
            steps.append(("event", intent(at=at, score=score, topic=topic, event_id=f"x{i}")))
    return sorted(steps, key=lambda s: draw(st.integers(0, 3)))  # mostly in order, not all


@pytest.mark.parametrize("rules", [RULES, SHORT], ids=["default", "short"])
@settings(max_examples=200, deadline=None)
@given(steps=traffic())
def test_cached_windows_equal_recomputed_ones(rules, steps):
    """Moved by events, rolled forward by days, trimmed by pruning: always equal to the
    windows recomputed from the buckets."""
    state = apply_event(None, profile(fit=80), coords(offset=0), rules, WALL).state
    for offset, (kind, what) in enumerate(steps, start=1):
        if kind == "tick":
            if state.due_at is not None:
                apply_tick(state, rules, max(what, state.due_at))
        else:
            try:
                apply_event(state, what, coords(offset=offset), rules, WALL)
            except Rejected:
                continue
        windows = cached(state)
        assert windows is not None
        assert _fields(windows) == _fields(aggregate(state, rules, windows.today * DAY))
