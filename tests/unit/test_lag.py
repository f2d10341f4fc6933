"""The Burrow-style lag evaluation and the watchdog's two verdicts (pure)."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.logic.partition_status import LagStatus, Sample, evaluate, lag_of, rewound, stalled

offsets = st.integers(min_value=0, max_value=10**9)
steps = st.lists(st.integers(min_value=0, max_value=1000), min_size=2, max_size=12)


def run(produced: list[int], consumed: list[int]) -> list[Sample]:
    """Samples of a log growing by `produced` and a group committing `consumed` more each
    time (never past the log's end)."""
    samples, end, committed = [], 0, 0
    for grow, take in zip(produced, consumed, strict=False):
        end += grow
        committed = min(end, committed + take)
        samples.append(Sample(committed, end))
    return samples


@given(steps, steps)
def test_lag_is_what_waits_and_never_negative(produced, consumed):
    for sample in run(produced, consumed):
        assert lag_of(sample) == sample.highwater - sample.committed >= 0


@given(steps)
def test_a_group_keeping_up_is_ok(produced):
    assert evaluate(run(produced, [10**6] * len(produced))) is LagStatus.OK


@given(steps, st.integers(min_value=1, max_value=10**6))
def test_no_commit_movement_with_records_waiting_is_a_stall(produced, committed):
    samples = [
        Sample(committed, committed + 1 + sum(produced[: i + 1])) for i in range(len(produced))
    ]
    assert evaluate(samples) is LagStatus.STALL
    assert "has not moved" in stalled("t[0]", samples)


@given(steps)
def test_waiting_records_and_no_commit_ever_is_stop(produced):
    samples = [Sample(None, 1 + sum(produced[: i + 1])) for i in range(len(produced))]
    assert evaluate(samples) is LagStatus.STOP
    assert stalled("t[0]", samples) is not None


@given(steps, steps)
def test_lag_growing_at_every_sample_while_committing_is_warn(produced, consumed):
    samples = run(produced, consumed)
    lags = [lag_of(s) for s in samples]
    growing = all(b > a for a, b in itertools.pairwise(lags))
    moving = len({s.committed for s in samples}) > 1
    status = evaluate(samples)
    if lags[-1] == 0:
        assert status is LagStatus.OK
    elif moving:
        assert status is (LagStatus.WARN if growing else LagStatus.OK)
        assert stalled("t[0]", samples) is None


@given(offsets, st.integers(min_value=1, max_value=1000))
def test_a_log_ending_behind_the_group_is_a_rewind(highwater, behind):
    assert evaluate([Sample(highwater + behind, highwater)]) is LagStatus.REWIND
    assert (
        evaluate(
            [Sample(highwater + behind, highwater + behind), Sample(highwater, highwater + behind)]
        )
        is LagStatus.REWIND
    )


@given(offsets, offsets)
def test_rewound_only_when_the_log_ends_at_or_before_what_was_read(highwater, read_to):
    reason = rewound("t[3]", highwater, read_to)
    assert (reason is None) == (highwater > read_to)
    if reason:
        assert "t[3]" in reason
        assert str(read_to) in reason
        assert "lost records" in reason


def test_evaluate_needs_a_sample():
    with pytest.raises(ValueError, match="at least one"):
        evaluate([])
