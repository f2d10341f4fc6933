"""`--from`/`--to` of replay and backtest: a time without an offset is UTC, whatever the
machine's own time zone."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.replay.command import event_time

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]


@pytest.fixture(params=ZONES)
def local_zone(request, monkeypatch):
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # zone per test
@given(
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.none()
    )
)
def test_naive_times_are_utc_in_every_local_zone(local_zone, at):
    expected = int(at.replace(tzinfo=UTC).timestamp() * 1000)
    assert event_time(at.isoformat(), "--from") == expected
    assert event_time(at.date().isoformat(), "--to") == int(
        datetime.combine(at.date(), datetime.min.time(), UTC).timestamp() * 1000
    )


def test_an_offset_is_kept(local_zone):
    at = datetime(2026, 9, 1, 12, tzinfo=UTC) + timedelta(hours=2)
    assert event_time("2026-09-01T14:00:00+02:00", "--from") == int(
        (at - timedelta(hours=2)).timestamp() * 1000
    )


def test_a_bad_time_names_the_option():
    with pytest.raises(ValueError, match="--from: 'yesterday' is not an ISO-8601"):
        event_time("yesterday", "--from")
