"""An opportunity's facts from a trimmed history equal those of every stage event kept.

The record keeps only the events its facts can still depend on (opportunities.py); the
reference is the ground truth's own derivation (tests/history.py) over all events, in
whatever order they arrive, with ties, repeats and reopened deals.
"""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.inputs import DealEvent
from streams.logic.rules import Rules
from streams.logic.state.opportunities import reached, record
from tests.factories import T0
from tests.history import _opportunity_facts

STAGES = Rules().stages


@st.composite
def stage_events(draw):
    """Stage events of one opportunity: few distinct times (ties), runs of closes."""
    events = []
    for n in range(draw(st.integers(1, 40))):
        events.append(
            {
                "event_id": f"d{n}",
                "account_id": "acme",
                "opportunity_id": "o1",
                "stage": draw(st.sampled_from(STAGES + ["closed_won", "closed_lost"] * 2)),
                "amount": float(draw(st.sampled_from([10_000, 20_000, 30_000]))),
                "currency": "USD",
                "deal_type": draw(st.sampled_from(["new", "expansion"])),
                "occurred_at": T0 + draw(st.integers(0, 12)) * 1000,
            }
            | draw(st.sampled_from([{}, {"product_line": "core"}])),
        )
    return draw(st.permutations(events))


@settings(max_examples=300, deadline=None)
@given(stage_events())
def test_a_trimmed_history_gives_the_facts_of_all_its_events(events):
    opp = None
    for n, payload in enumerate(events):
        event = DealEvent.model_validate_json(orjson.dumps(payload))
        opp = record(opp, event, payload["occurred_at"], STAGES, payload["amount"])
        want = _opportunity_facts(events[: n + 1], STAGES)
        got = {
            "stage": opp.stage,
            "amount": opp.amount,
            "type": opp.deal_type,
            "line": opp.product_line,
            "first": opp.first_seen,
            "closed_at": opp.closed_at,
            "furthest": reached(opp, STAGES),
        }
        assert got == {k: want[k] for k in got}, (n, opp.history)
