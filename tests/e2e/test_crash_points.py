"""Killed at each step between applying an input and committing its offset, a worker ends
like a single pass: every KPI (campaigns and daily series included), tier change and alert.

A worker started with ABM_CRASH_AT=POINT:N kills itself with SIGKILL the N-th time it
passes POINT (streams/crash_points.py); the test starts a fresh one, which recovers
its tables from the changelogs, is sent the inputs again from the committed offsets, and
goes on. Every point is armed in every run, each in a pipeline of its own, and each run
must equal an undisturbed one. The worker runs as in production (it writes Kafka only)
with an `abm view` beside it, whose report of what it has written says when to compare.

Each input kind goes in a phase of its own, sent once the group has committed the phase
before: profiles, rosters, campaign spend, intent, engagement, deals. Within a phase one
topic flows, so every account meets its inputs in the same order in every run; the day an
account enters a journey stage is its own clock at that moment, which would otherwise
depend on how the topics' deliveries interleave.
"""

import asyncio
import signal
import time

import pytest

from streams.clients.group_lag import read_offsets
from streams.dev.embedded import free_port
from streams.dev.settle import view_holds
from streams.dev.supervise import start_view
from tests.harness import (
    ARTIFACTS,
    launch,
    pipeline_settings,
    read_kpis,
    read_outputs,
    send_rows,
    without_record_times,
)
from tests.history import DAY, generate
from tests.kpi_compare import assert_same_kpis

END = int(time.time() * 1000) - DAY
ROWS = generate(7, accounts=60, days=45, end=END)
PHASES = ("accounts", "contacts", "spend", "intent", "engagement", "deals")
ARMED = {
    "applied": "applied:700",
    "output-delivered": "output-delivered:250",
    "accounts-stored": "accounts-stored:12",
    "campaigns-stored": "campaigns-stored:2",
    "rosters-stored": "rosters-stored:2",
    "stored": "stored:12",
    "acked": "acked:12",
    "committed": "committed:4",
    "applied-late": "applied:1500",
}
"""Where each case kills the worker (POINT:N, the N-th pass of the point): after the first
phase, before the last (profiles, rosters, spend and intent make ~300 state changes,
engagement ~2,000; a flush stores up to 20 inputs' states). `applied-late` kills it late
in the engagement phase, after the group's first commits there: the restarted worker
re-reads hundreds of records from partitions committed and never committed, while faust
seeks them (a seek racing the batch in hand once skipped records there)."""
PHASE_TIMEOUT_S = 120


def uncommitted(settings, kind: str) -> bool:
    topic = getattr(settings.topics, kind)
    offsets = asyncio.run(read_offsets(settings, settings.app_id, [topic]))
    return any((o.sample.committed or 0) < o.sample.highwater for o in offsets)


def run(stack, name: str, crash_at: str | None = None) -> tuple[dict, tuple, str | None]:
    """(KPIs, outputs, the phase the worker was killed in) of one pass through PHASES."""
    settings, env = pipeline_settings(
        stack,
        clock="event",
        tick_interval_s=3600,
        kpi_interval_s=0.5,
        view_port=free_port(),
        state_flush_interval_s=0.05,
        state_flush_max_events=20,
    )
    view = start_view(env, ARTIFACTS / f"{name}-view.log")
    view.wait_ready(90)
    armed = {**env, "ABM_CRASH_AT": crash_at} if crash_at else env
    worker = launch(settings, armed, f"{name}-worker", with_view=False)
    killed_in = None
    try:
        for kind in PHASES:
            send_rows(settings, [row for row in ROWS if row[0] == kind])
            deadline = time.monotonic() + PHASE_TIMEOUT_S
            while uncommitted(settings, kind):
                assert time.monotonic() < deadline, f"{kind}: not committed in time"
                if worker.child.proc.poll() is not None:
                    assert killed_in is None, "killed twice"
                    assert worker.child.proc.returncode == -signal.SIGKILL, worker.log
                    killed_in = kind
                    worker = launch(settings, env, f"{name}-restarted", with_view=False)
                time.sleep(0.2)
        assert worker.child.proc.poll() is None, f"{name}: the worker died after the last input"
        view_holds(settings, [view.web_port], timeout_s=90)
        return read_kpis(settings), read_outputs(settings), killed_in
    finally:
        worker.stop()
        view.stop()


@pytest.fixture(scope="module")
def single_pass(stack):
    kpis, (changes, alerts), _ = run(stack, "crash-reference")
    assert len(changes) > 50
    assert alerts
    assert kpis["campaigns"]
    assert kpis["overall"]["won"] > 0
    return kpis, changes, alerts


@pytest.mark.parametrize("case", ARMED)
def test_a_worker_killed_at_each_step_ends_like_a_single_pass(stack, single_pass, case):
    kpis, (changes, alerts), killed_in = run(stack, f"crash-{case}", ARMED[case])
    assert killed_in is not None, f"{case}: {ARMED[case]} was not reached"
    assert killed_in != PHASES[0], f"{case}: killed before any state was stored"
    want_kpis, want_changes, want_alerts = single_pass
    # The same as-of (the newest event time), so the daily series span the same days.
    assert kpis["as_of"] == want_kpis["as_of"]
    assert_same_kpis(kpis, want_kpis)
    assert without_record_times(changes) == without_record_times(want_changes)
    assert alerts == want_alerts
