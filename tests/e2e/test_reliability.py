"""Nothing lost, nothing double-counted: a worker killed mid-stream, and two workers.

The same history (profiles, then two months of engagement for 100 accounts, with late
and duplicate deliveries) goes through a reference worker once, and through workers that
are disturbed mid-stream. Tier changes (kept by version), surge alerts (by id) and KPIs
must equal the reference. Ticks are off (an hour apart) so every output follows from the
events alone, and the inputs are one topic after the profiles, so arrival order is the
same in every run.
"""

import signal
import time

import pytest
from redis import Redis

from streams.dev.embedded import free_port
from tests.harness import (
    launch,
    pipeline_settings,
    read_all,
    read_kpis,
    read_outputs,
    send_rows,
    wait_until,
    without_record_times,
)
from tests.history import DAY, generate
from tests.kpi_compare import assert_same_kpis, kpi_differences

END = int(time.time() * 1000) - DAY
ROWS = [
    r for r in generate(5, accounts=100, days=60, end=END) if r[0] in ("accounts", "engagement")
]
PROFILES = [r for r in ROWS if r[0] == "accounts"]
EVENTS = [r for r in ROWS if r[0] != "accounts"]


def new_pipeline(stack):
    return pipeline_settings(stack, clock="event", tick_interval_s=3600, kpi_interval_s=0.5)


def load_profiles(settings) -> None:
    """Profiles first, and applied, so every run sees them before any engagement."""
    send_rows(settings, PROFILES)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    wait_until(
        lambda: all(
            redis.hexists(f"{settings.redis_prefix}account:{p['account_id']}", "name")
            for _, p in PROFILES
        ),
        30,
        "the profiles in the view",
    )


def settle(settings, want_kpis: dict, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        kpis = read_kpis(settings)
        if not kpi_differences(kpis, want_kpis) or time.monotonic() > deadline:
            return kpis
        time.sleep(1)


@pytest.fixture(scope="module")
def reference(stack):
    """One undisturbed pass: the outputs every disturbed run must reproduce."""
    settings, env = new_pipeline(stack)
    worker = launch(settings, env, "reliability-reference")
    try:
        load_profiles(settings)
        send_rows(settings, EVENTS)
        previous: dict = {}
        while (kpis := read_kpis(settings)) != previous:  # settled: two equal readings
            previous = kpis
            time.sleep(3)
        changes, alerts = read_outputs(settings)
    finally:
        assert worker.stop() == 0
    assert len(changes) > 100
    assert alerts
    return kpis, changes, alerts


def assert_same_outputs(settings, reference) -> None:
    kpis, changes, alerts = reference
    assert_same_kpis(settle(settings, kpis), kpis)
    deadline = time.monotonic() + 30
    while (got := read_outputs(settings))[0].keys() != changes.keys():
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    got_changes, got_alerts = got
    missing = sorted(changes.keys() - got_changes.keys())
    extra = sorted(got_changes.keys() - changes.keys())
    assert (missing, extra) == ([], []), f"missing {missing[:10]}, extra {extra[:10]}"
    # A profile's change carries the record time of the profile: not the same run to run.
    assert without_record_times(got_changes) == without_record_times(changes)
    assert got_alerts == alerts


def play_a_third(settings, reference) -> None:
    """Send everything, and return once a third of the reference's changes are out."""
    load_profiles(settings)
    send_rows(settings, EVENTS)
    target = len(reference[1]) // 3
    wait_until(
        lambda: len(read_all(settings, settings.topics.tier_changes, 0.3)) >= target,
        60,
        "a third of the tier changes",
    )


def test_a_worker_killed_mid_stream_ends_like_a_single_pass(stack, reference):
    settings, env = new_pipeline(stack)
    first = launch(settings, env, "reliability-crash-1")
    play_a_third(settings, reference)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # tables and Redis writes in flight
    second = launch(settings, env, "reliability-crash-2")
    try:
        assert_same_outputs(settings, reference)
    finally:
        assert second.stop() == 0


def test_two_workers_with_one_stopped_mid_stream_end_like_one(stack, reference):
    settings, env = new_pipeline(stack)
    a = launch(settings, env, "reliability-pair-a")
    b = launch(settings, {**env, "ABM_WEB_PORT": str(free_port())}, "reliability-pair-b")
    try:
        play_a_third(settings, reference)
        assert b.stop() == 0  # its partitions move to a, mid-stream
        assert_same_outputs(settings, reference)
    finally:
        a.stop()
        b.stop()
