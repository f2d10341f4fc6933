"""What `abm collect` does to a call before it is produced (no broker): Segment's
enrichment, the redaction and validation, the write key's parsing."""

import base64
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from streams.collect.auth import WriteKeys, basic_user, body_key
from streams.collect.body import CALL_MAX_BYTES, Refused
from streams.collect.calls import SHARED_BUDGET_BYTES, Batch, batch_of, enrich, iso, prepare
from streams.logic.identity.redact import ADDRESS, contact_of
from streams.logic.identity.segment import BadCall, SegmentSource

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
KEY = b"the-identity-key-of-the-unit-tests-32b"
SOURCE = SegmentSource()


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_write_key_is_the_basic_user_name_or_the_body_s():
    assert basic_user(basic("wk")) == "wk"
    assert basic_user(basic("wk", "ignored")) == "wk"
    assert basic_user("basic " + base64.b64encode(b"wk:").decode()) == "wk"
    for header in (None, "", "Bearer wk", "Basic !!!", basic(""), "Basic " + "////"):
        assert basic_user(header) is None, header
    assert body_key({"writeKey": "wk"}) == "wk"
    assert body_key({"writeKey": ""}) is None
    assert body_key({"writeKey": 7}) is None
    assert body_key([{"writeKey": "wk"}]) is None


def test_write_keys_accept_only_theirs_and_refuse_to_be_empty():
    keys = WriteKeys([SecretStr("one"), SecretStr("two")])
    assert [keys.accepts(k) for k in ("one", "two", "on", "one ", "ONE", None)] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    with pytest.raises(ValueError, match="ABM_COLLECT_WRITE_KEYS"):
        WriteKeys([])


def test_a_batch_s_context_and_integrations_merge_into_each_call_its_own_keys_winning():
    calls, batch = batch_of(
        {
            "batch": [{"type": "page", "context": {"locale": "fr-FR"}}, {"type": "page"}],
            "context": {"locale": "en-US", "library": {"name": "x"}},
            "integrations": {"All": False},
            "sentAt": "2026-05-01T11:59:59Z",
        }
    )
    first, second = (enrich(c, batch, NOW) for c in calls)
    assert first["context"] == {"locale": "fr-FR", "library": {"name": "x"}}
    assert second["context"] == {"locale": "en-US", "library": {"name": "x"}}
    assert first["integrations"] == second["integrations"] == {"All": False}
    assert first["sentAt"] == "2026-05-01T11:59:59Z"


def test_a_message_id_and_the_time_received_are_set_and_the_write_key_dropped():
    out = enrich({"type": "page", "writeKey": "wk"}, Batch(), NOW)
    assert "writeKey" not in out
    assert len(out["messageId"]) == 36
    assert out["receivedAt"] == "2026-05-01T12:00:00.000Z"
    assert enrich({"messageId": "m1"}, Batch(), NOW)["messageId"] == "m1"
    assert enrich({"messageId": "m1"}, Batch(), NOW, relayed=True)["messageId"] == "m1"


@pytest.mark.parametrize(
    ("call", "timestamp", "original"),
    [
        # A client clock one hour slow: sent 10 s after the event, by its clock.
        (
            {"timestamp": "2026-05-01T10:59:40Z", "sentAt": "2026-05-01T10:59:50Z"},
            "2026-05-01T11:59:50.000Z",
            "2026-05-01T10:59:40Z",
        ),
        # The brief's case: no timestamp, an originalTimestamp and a sentAt.
        (
            {"originalTimestamp": "2026-05-01T13:00:00Z", "sentAt": "2026-05-01T13:00:30Z"},
            "2026-05-01T11:59:30.000Z",
            "2026-05-01T13:00:00Z",
        ),
        # History sent now by a server SDK keeps its time.
        (
            {"timestamp": "2026-04-01T00:00:00Z", "sentAt": "2026-05-01T12:00:00Z"},
            "2026-04-01T00:00:00.000Z",
            "2026-04-01T00:00:00Z",
        ),
        # Corrected already (both times): left alone.
        (
            {
                "timestamp": "2026-05-01T11:00:00Z",
                "originalTimestamp": "2026-05-01T10:00:00Z",
                "sentAt": "2026-05-01T10:00:01Z",
            },
            "2026-05-01T11:00:00Z",
            "2026-05-01T10:00:00Z",
        ),
        # No sentAt, or one that is no time: nothing to correct with.
        ({"timestamp": "2026-05-01T11:00:00Z"}, "2026-05-01T11:00:00Z", None),
        (
            {"timestamp": "2026-05-01T11:00:00Z", "sentAt": "yesterday"},
            "2026-05-01T11:00:00Z",
            None,
        ),
    ],
)
def test_clock_skew_is_corrected_as_segment_does(call, timestamp, original):
    out = enrich({"type": "track", **call}, Batch(), NOW)
    assert out["timestamp"] == timestamp
    assert out.get("originalTimestamp") == original


def test_the_batch_s_sent_at_serves_calls_without_their_own():
    _, batch = batch_of({"batch": [], "sentAt": "2026-05-01T10:00:10Z"})
    out = enrich({"timestamp": "2026-05-01T10:00:00Z"}, batch, NOW)
    assert out["timestamp"] == "2026-05-01T11:59:50.000Z"


def test_a_relayed_call_keeps_its_times():
    call = {
        "timestamp": "2026-05-01T10:00:00Z",
        "sentAt": "2026-05-01T10:00:01Z",
        "receivedAt": "2026-05-01T10:00:02Z",
    }
    out = enrich(call, Batch(), NOW, relayed=True)
    assert {k: out[k] for k in call} == call


def test_prepare_redacts_validates_and_keys_by_person():
    call = {
        "type": "identify",
        "userId": "Jo@Acme.com",
        "anonymousId": "anon-1",
        "traits": {"email": "jo@acme.com", "note": "write to jo@acme.com"},
        "context": {"page": {"url": "https://x.io/?e=jo%40acme.com"}},
    }
    record = prepare(call, Batch(), NOW, identity_key=KEY, source=SOURCE)
    assert record.key == contact_of("jo@acme.com", KEY).encode()
    value = orjson.loads(record.value)
    assert value["traits"]["email_domain"] == "acme.com"
    assert value["traits"]["email_contact"] == contact_of("jo@acme.com", KEY)
    assert not ADDRESS.search(record.value.decode())
    assert b"acme.com?" not in record.value


def test_without_an_identity_key_an_address_as_user_id_leaves_the_anonymous_id():
    call = {"type": "page", "userId": "jo@acme.com", "anonymousId": "anon-1"}
    record = prepare(call, Batch(), NOW, identity_key=None, source=SOURCE)
    assert record.key == b"anon-1"
    assert b"@" not in record.value


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ([1], "a call must be a JSON object"),
        ({"type": "fly", "userId": "u"}, "type: must be one of"),
        ({"type": "track", "userId": "u"}, "event: a track call needs its event name"),
        ({"type": "page"}, "userId or anonymousId"),
        ({"type": "page", "userId": "u", "p": "x" * CALL_MAX_BYTES}, "over the limit"),
        ({"type": "page", "userId": "u", "n": 2**70}, "cannot be stored"),
    ],
)
def test_prepare_refuses_what_the_workers_could_not_read(call, reason):
    with pytest.raises(BadCall, match=reason.replace("(", r"\(")):
        prepare(call, Batch(), NOW, identity_key=KEY, source=SOURCE)


def test_a_call_nested_too_deep_is_refused_before_the_redaction_walks_it():
    deep: dict = {}
    for _ in range(300):
        deep = {"a": deep}
    with pytest.raises(BadCall, match="Recursion"):
        prepare(
            {"type": "page", "userId": "u", "p": deep},
            Batch(),
            NOW,
            identity_key=KEY,
            source=SOURCE,
        )


@pytest.mark.parametrize(
    "payload",
    [[], {}, {"batch": {}}, {"batch": [], "context": []}, {"batch": [], "integrations": 1}],
)
def test_a_body_that_is_no_batch_is_refused_whole(payload):
    with pytest.raises(Refused) as caught:
        batch_of(payload)
    assert caught.value.status == 400


def test_a_shared_context_merged_into_many_calls_is_bounded():
    context = {"pad": "x" * 1000}
    calls = [{"type": "page"}] * (SHARED_BUDGET_BYTES // 1000)
    with pytest.raises(Refused) as caught:
        batch_of({"batch": calls, "context": context})
    assert caught.value.status == 413
    batch_of({"batch": calls[:100], "context": context})


def test_iso_is_utc_to_the_millisecond():
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.emails(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(
    call=st.dictionaries(
        st.sampled_from(
            [
                "type",
                "userId",
                "anonymousId",
                "messageId",
                "event",
                "timestamp",
                "originalTimestamp",
                "sentAt",
                "properties",
                "traits",
                "context",
                "email",
            ]
        ),
        json_values,
    ),
    shared=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
)
def test_any_call_is_a_record_without_an_address_or_a_bad_call(call, shared):
    batch = Batch(context=shared, sent_at="2026-05-01T11:00:00Z")
    try:
        record = prepare(call, batch, NOW, identity_key=KEY, source=SOURCE)
    except BadCall:
        return
    assert not ADDRESS.search(record.value.decode())
    assert not ADDRESS.search(record.key.decode())
