"""Schemas: valid and invalid payloads, timestamp forms, and the published JSON Schema files."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import AccountProfile, DealEvent, EngagementEvent, IntentEvent
from schemas.registry import JSON_DIR, TOPIC_MODELS, json_schema_text

VALID = {
    "event_id": "e-1",
    "account_id": "acme",
    "contact_id": "c-1",
    "channel": "web",
    "action": "page_view",
    "occurred_at": "2026-11-23T10:00:00+01:00",
    "duration_s": 42.5,
}


def parse(**changes):
    return EngagementEvent.model_validate_json(orjson.dumps({**VALID, **changes}))


def test_valid_engagement_is_stored_in_utc():
    event = parse()
    assert event.occurred_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_epoch_millis_and_iso_z_agree():
    ms = int(datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp() * 1000)
    assert (
        parse(occurred_at=ms).occurred_at == parse(occurred_at="2026-11-23T09:00:00Z").occurred_at
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", "2026-11-23T10:00:00"),  # naive: zone unknown
        ("occurred_at", "0001-01-01T00:00:00Z"),
        ("occurred_at", "9999-12-31T00:00:00Z"),
        ("occurred_at", True),
        ("occurred_at", "yesterday"),
        ("channel", "carrier_pigeon"),
        ("action", "PAGE_VIEW"),
        ("account_id", ""),
        ("account_id", "has space"),
        ("account_id", "x" * 129),
        ("event_id", 17),
        ("duration_s", -1),
        ("duration_s", "12"),
        ("unknown_field", 1),
    ],
)
def test_invalid_engagement_is_refused(field, value):
    with pytest.raises(ValidationError):
        parse(**{field: value})


@pytest.mark.parametrize("raw", [b'{"score": NaN}', b'{"score": Infinity}'])
def test_nan_and_inf_are_refused(raw):
    body = (
        orjson.dumps(
            {
                "event_id": "i",
                "account_id": "a",
                "provider": "g2",
                "topic": "t",
                "occurred_at": 1_780_000_000_000,
            }
        )[:-1]
        + b","
        + raw[1:]
    )
    with pytest.raises(ValidationError):
        IntentEvent.model_validate_json(body)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_intent_score_range(score):
    payload = {
        "event_id": "i",
        "account_id": "a",
        "provider": "g2",
        "topic": "t",
        "score": score,
        "occurred_at": 1_780_000_000_000,
    }
    if 0 <= score <= 100:
        assert IntentEvent.model_validate(payload).score == score
    else:
        with pytest.raises(ValidationError):
            IntentEvent.model_validate(payload)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e13, max_value=1e13))
def test_deal_amount_never_negative(amount):
    payload = {
        "event_id": "d",
        "account_id": "a",
        "opportunity_id": "o",
        "stage": "proposal",
        "amount": amount,
        "occurred_at": "2026-01-01T00:00:00Z",
    }
    if 0 <= amount <= 1e12:
        assert DealEvent.model_validate(payload).amount == amount
    else:
        with pytest.raises(ValidationError):
            DealEvent.model_validate(payload)


@given(st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999))
def test_epoch_ms_roundtrips_through_iso(ms):
    event = parse(occurred_at=ms)
    again = parse(occurred_at=orjson.loads(event.model_dump_json())["occurred_at"])
    assert again.occurred_at == event.occurred_at


FIRST_MS, END_MS = 946_684_800_000, 4_102_444_800_000  # 2000-01-01, 2100-01-01


@given(
    st.sampled_from([FIRST_MS - 1, FIRST_MS, END_MS - 1, END_MS, 0, -1])
    | st.integers(FIRST_MS - 10**9, END_MS + 10**9)
    | st.integers(-(2**63), 2**63 - 1)
)
def test_epoch_ms_is_accepted_exactly_within_the_plausible_range(ms):
    if FIRST_MS <= ms < END_MS:
        at = parse(occurred_at=ms).occurred_at
        assert at == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        assert at.tzinfo is UTC
    else:
        with pytest.raises(ValidationError, match=r"outside 2000-01-01\.\.2100-01-01|out of range"):
            parse(occurred_at=ms)


def test_profile_defaults_and_limits():
    profile = AccountProfile.model_validate({"account_id": "a", "name": "A"})
    assert profile.tech_stack == []
    assert profile.fit_score is None
    with pytest.raises(ValidationError):
        AccountProfile.model_validate({"account_id": "a", "name": "A", "tech_stack": ["x"] * 201})


@pytest.mark.parametrize("topic", list(TOPIC_MODELS))
def test_committed_json_schema_matches_model(topic):
    committed = (JSON_DIR / f"{topic}.schema.json").read_text()
    assert committed == json_schema_text(topic), "run `abm schemas` and commit the files"


def test_every_json_schema_names_required_fields():
    schema = orjson.loads((JSON_DIR / "abm.engagement.v1.schema.json").read_text())
    assert set(schema["required"]) == {"event_id", "account_id", "channel", "action", "occurred_at"}
    assert schema["additionalProperties"] is False
