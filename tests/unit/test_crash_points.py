"""ABM_CRASH_AT: a precise error for a bad setting, and a kill at exactly the N-th pass."""

import signal
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.config import Settings
from streams.crash_points import POINTS, parse


@given(st.sampled_from(list(POINTS)), st.integers(min_value=1, max_value=10**6))
def test_a_point_and_a_count_are_taken(point, n):
    assert parse(f"{point}:{n}") == (point, n)
    assert Settings(crash_at=f"{point}:{n}").crash_at == f"{point}:{n}"


@given(st.text(max_size=30))
def test_anything_else_is_refused_with_what_is_wrong(spec):
    point, _, count = spec.partition(":")
    if point in POINTS and count.isascii() and count.isdecimal() and int(count) >= 1:
        return
    with pytest.raises(ValueError, match=r"crash point|POINT:N"):
        parse(spec)
    with pytest.raises(ValidationError, match="crash_at"):
        Settings(crash_at=spec)


def test_the_process_is_killed_at_the_nth_pass_of_its_point_and_no_other():
    script = (
        "from streams.crash_points import CrashPoints\n"
        "points = CrashPoints('stored:3')\n"
        "for n in range(1, 6):\n"
        "    points.passed('acked')\n"
        "    print(n, flush=True)\n"
        "    points.passed('stored')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == -signal.SIGKILL
    assert run.stdout.split() == ["1", "2", "3"]


def test_unarmed_nothing_happens():
    script = (
        "from streams.crash_points import CrashPoints, POINTS\n"
        "points = CrashPoints(None)\n"
        "for _ in range(3):\n"
        "    for point in POINTS:\n"
        "        points.passed(point)\n"
        "print('alive')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (run.returncode, run.stdout.strip()) == (0, "alive")
