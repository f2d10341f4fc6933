"""The Burrow-style lag evaluation and the watchdog's two verdicts (pure)."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.clients.partition_status import (
    SUSTAINED_S,
    LagStatus,
    Sample,
    Samples,
    evaluate,
    evidence,
    lag_of,
    rewound,
    stalled,
)

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


COMMIT_EVERY_S = 2.8  # faust's default commit interval
gaps = st.lists(st.floats(min_value=0.01, max_value=4.0), min_size=2, max_size=60)


def sample_times(gaps_s: list[float]) -> list[float]:
    return list(itertools.accumulate(gaps_s, initial=100.0))


@given(gaps, st.integers(min_value=1, max_value=1000))
def test_a_live_consumer_is_never_stalled_however_often_it_is_sampled(gaps_s, per_tick):
    """Records arrive every 0.1 s, the consumer commits all it has every 2.8 s; readers
    (a CLI, dashboards refreshing at once) sample at any times: none may say STALL."""

    def written(at: float) -> int:
        return per_tick * int(at * 10)

    samples = Samples()
    for at in sample_times(gaps_s):
        committed = written((at // COMMIT_EVERY_S) * COMMIT_EVERY_S)
        assert samples.observe(Sample(committed, written(at), at)) is not LagStatus.STALL


@given(
    st.lists(st.floats(min_value=0.01, max_value=SUSTAINED_S / 2), min_size=2, max_size=60),
    st.integers(min_value=1, max_value=10**6),
)
def test_a_hung_consumer_is_stalled_once_the_evidence_spans_enough(gaps_s, waiting):
    samples, times = Samples(), sample_times(gaps_s)
    for at in times:
        status = samples.observe(Sample(500, 500 + waiting, at))
        if at - times[0] < SUSTAINED_S:
            assert status is LagStatus.OK
    assert (status is LagStatus.STALL) == (times[-1] - times[0] >= SUSTAINED_S)


@given(gaps)
def test_the_evidence_is_the_shortest_run_spanning_the_window(gaps_s):
    run = [Sample(0, 1, at) for at in sample_times(gaps_s)]
    judged = evidence(run, SUSTAINED_S)
    assert judged[-1] is run[-1]
    span = judged[-1].at - judged[0].at
    if run[-1].at - run[0].at >= SUSTAINED_S:
        assert span >= SUSTAINED_S
        assert judged[-1].at - judged[1].at < SUSTAINED_S
    else:
        assert list(judged) == run
