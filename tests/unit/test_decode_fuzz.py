"""The gate every input passes, fuzzed: any bytes, any JSON, any key, on every input topic,
ends in a decision or a rejection with its reason, never in another exception (which the
worker could only dead-letter as a processing error, a bug)."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.logic.inputs.decode import Coords, InputKind, Rejected
from streams.logic.inputs.records import decode_record, take
from streams.logic.rules import Rules
from streams.replay.engine import Replay
from tests.factories import WALL

RULES = Rules()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=8)
    ),
    max_leaves=30,
)
"""Any JSON at all."""


def dumps(value: object) -> bytes:
    """The stdlib's JSON: it writes any integer, and NaN and Infinity as producers do."""
    return json.dumps(value).encode()


FIELDS = {
    InputKind.ENGAGEMENT: "event_id account_id contact_id channel action occurred_at "
    "duration_s campaign_id",
    InputKind.INTENT: "event_id account_id provider topic score occurred_at",
    InputKind.DEALS: "event_id account_id opportunity_id stage amount currency deal_type "
    "product_line occurred_at",
    InputKind.ACCOUNTS: "account_id name domain industry employees annual_revenue country "
    "tech_stack expected_acv owner fit_score",
    InputKind.SPEND: "event_id account_id campaign_id amount occurred_at",
    InputKind.CONTACTS: "account_id contacts updated_at",
    InputKind.SALES_ACTIVITIES: "event_id account_id rep_id type occurred_at",
}
PLAUSIBLE = st.sampled_from(
    ["acme", "e1", "web", "page_view", "proposal", "2026-11-01T00:00:00Z", 50, 1.5e3, [], {}]
)


def shaped_like(kind: InputKind) -> st.SearchStrategy[bytes]:
    """Objects with the kind's own field names and values of any type: where the
    validation, not the parser, has to refuse."""
    fields = FIELDS[kind].split()
    objects = st.fixed_dictionaries({}, optional={f: PLAUSIBLE | json_values for f in fields})
    return objects.map(dumps)


@st.composite
def records(draw: st.DrawFn) -> tuple[InputKind, bytes | None, bytes | None]:
    kind = draw(st.sampled_from(list(InputKind)))
    key = draw(st.none() | st.binary(max_size=40) | st.sampled_from([b"acme", b"e1"]))
    value = draw(st.none() | st.binary(max_size=200) | json_values.map(dumps) | shaped_like(kind))
    return kind, key, value


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_any_record_is_decided_or_rejected_with_a_reason(record):
    kind, key, value = record
    reason = None
    try:
        decoded = decode_record(kind, key, value)
        store = Replay(RULES, WALL)  # a Store over dicts
        taken = take(decoded, Coords(str(kind), 0, 0, WALL), store, RULES, WALL)
    except Rejected as why:
        reason = why
    if reason is not None:
        assert reason.error  # the precise reason a dead letter carries
    else:
        assert not taken.duplicate  # a first record on fresh tables is never a repeat
