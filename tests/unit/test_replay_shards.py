"""Replay in several processes decides what one process decides.

Each process takes the partitions p with p % processes == its index; every topic is
partitioned by owner, so the shards' outcomes must combine into one pass's outcome,
whatever the partition and process counts. Checked on a generated history with late,
duplicate and campaign-only records (JSON-lines input: no broker needed).
"""

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.cli import cli
from streams.config import Settings
from streams.logic.rules import Rules
from streams.replay import shards, sources
from streams.replay.engine import Item, Outcome, Replay
from streams.replay.run import Window, drive
from streams.replay.shards import Job, ShardError
from streams.replay.sources import Shard, file_items
from tests.history import generate, write_jsonl

NOW = int(time.time() * 1000)
END = 1_767_225_600_000  # 2026-01-01: a fixed history (seed 6: the candidate moves 3 accounts)
TIMING = ("seconds", "events_per_s", "workers")
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    directory = tmp_path_factory.mktemp("history")
    return write_jsonl(directory, generate(1, accounts=100, days=45, end=END))


@pytest.fixture(params=["fork", "spawn"])
def start(request, monkeypatch):
    """Shard processes started either way: forked (the CLI's) or spawned (a parent with
    other threads)."""
    monkeypatch.setattr(shards, "start_method", lambda: request.param)
    return request.param


def one_pass(settings: Settings, directory, shard: Shard | None) -> Outcome:
    async def run() -> Outcome:
        chunks, _ = file_items(settings, directory, shard)
        replay = Replay(settings.rules, NOW)
        await drive(chunks, [replay], Window(), lambda read: None)
        return replay.outcome()

    return asyncio.run(run())


@settings(max_examples=12, deadline=None)
@given(partitions=st.integers(1, 9), shards=st.integers(2, 5))
def test_shard_outcomes_combine_into_the_single_pass(history, partitions, shards):
    config = Settings(partitions=partitions)
    whole = one_pass(config, history, None)
    parts = [one_pass(config, history, Shard(n, shards)) for n in range(shards)]
    assert sum(bool(p.tiers) for p in parts) == min(partitions, shards)  # work was split
    assert Outcome.combine(parts) == whole
    # the history exercises what shards must keep in order and add up
    assert whole.changes
    assert whole.alerts
    assert whole.duplicates


def items_of(settings: Settings, directory) -> list[Item]:
    async def collect() -> list[Item]:
        chunks, _ = file_items(settings, directory)
        return [item for chunk in [c async for c in chunks] for item in chunk]

    return asyncio.run(collect())


def owner(item: Item) -> str:
    return "" if item.record is None else item.record.owner


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_accounts_are_independent_so_any_interleaving_decides_the_same(history, seed):
    """The replay applies one partition after another, each chunk grouped by owner (for
    the memory's sake), which is only right if no account's decisions depend on another's
    events: any interleaving that keeps each owner's own order must decide the same."""
    config = Settings(partitions=3)
    items = items_of(config, history)
    queues: dict[str, deque[Item]] = {}
    for item in items:
        queues.setdefault(owner(item), deque()).append(item)
    for name, queue in queues.items():  # the grouping kept every owner's order
        assert [i for i in sources.by_owner(items) if owner(i) == name] == list(queue)
    rng, left = random.Random(seed), list(queues)
    replay = Replay(config.rules, NOW)
    while left:
        queue = queues[name := rng.choice(left)]
        replay.feed(queue.popleft())
        if not queue:
            left.remove(name)
    replay.finish()
    assert len(queues) > 50
    assert replay.outcome() == one_pass(config, history, None)


def invoke(*args: str) -> dict:
    result = CliRunner().invoke(
        cli, [*args, "--json"], env={"ABM_CONFIG_FILE": None}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_replay_in_processes_equals_one_process(history, start):
    alone = invoke("replay", "--input-dir", str(history), "--workers", "1")
    shared = invoke("replay", "--input-dir", str(history), "--workers", "3")
    assert shared["workers"] == 3
    assert {k: v for k, v in shared.items() if k not in TIMING} == {
        k: v for k, v in alone.items() if k not in TIMING
    }


def test_backtest_in_processes_equals_one_process(history, start):
    args = [
        "backtest",
        "--input-dir",
        str(history),
        "--candidate",
        str(EXAMPLES / "candidate.toml"),
    ]
    alone, shared = invoke(*args, "--workers", "1"), invoke(*args, "--workers", "2")
    assert alone["moved"]  # the candidate changes something
    assert {k: v for k, v in shared.items() if k not in TIMING} == {
        k: v for k, v in alone.items() if k not in TIMING
    }


def test_a_shards_error_reaches_the_user(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["replay", "--input-dir", str(tmp_path), "--workers", "2"],
        env={"ABM_CONFIG_FILE": None},
    )
    assert result.exit_code == 1
    assert f"cannot replay: {tmp_path}: none of engagement.jsonl" in result.output


@pytest.mark.parametrize("workers", ["1", "3"])
def test_bad_lines_in_files_are_counted_by_reason_and_lose_nothing(history, tmp_path, workers):
    for path in history.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    bad = [b"{not json", b'{"event_id": 7}', b"", b"   "]  # blank lines are not records
    with (tmp_path / "engagement.jsonl").open("ab") as f:
        f.write(b"\n".join(bad) + b"\n")
    clean = invoke("replay", "--input-dir", str(history), "--workers", workers)
    dirty = invoke("replay", "--input-dir", str(tmp_path), "--workers", workers)
    lines = sum(len(p.read_bytes().splitlines()) for p in history.iterdir())
    assert clean["records"] == lines
    assert dirty["records"] == lines + 2
    expected = Counter(clean["rejected"]) + Counter({"invalid_json": 1, "invalid_payload": 1})
    assert dirty["rejected"] == dict(expected)
    assert dirty["tiers"] == clean["tiers"]


def test_rejected_records_are_kept_without_their_tracebacks(tmp_path):
    """A replay runs with the collector off (gc_tuning): a rejection's traceback would hold
    the reader's frame and so its whole batch, in a cycle only a collection frees."""
    (tmp_path / "engagement.jsonl").write_bytes(b"{not json\n" * 30 + b'{"event_id": 7}\n')

    async def read() -> list:
        chunks, _ = file_items(Settings(), tmp_path)
        return [item async for chunk in chunks for item in chunk]

    items = asyncio.run(read())
    assert len(items) == 31
    assert all(item.rejected is not None for item in items)
    assert all(item.rejected.__traceback__ is None for item in items)


class _Dies:
    """A window that kills the process using it: a shard dying before it can report (a
    spawned one as it unpickles the job, a forked one as it reads the window)."""

    def __reduce__(self):
        return (os._exit, (3,))

    @property
    def start(self):
        os._exit(3)


def test_a_shard_that_dies_stops_the_replay_with_a_clear_error(history, start):
    job = Job(Settings(), (Rules(),), history, _Dies(), ticks=True)  # type: ignore[arg-type]
    with pytest.raises(ShardError, match=r"process \d of 2 ended without a result \(exit code 3\)"):
        asyncio.run(shards.run(job, workers=2, show=False))


FORKS = """
import asyncio, sys
from pathlib import Path
from streams.config import Settings
from streams.logic.rules import Rules
from streams.replay import shards
from streams.replay.run import Window
chosen, method = [], shards.start_method
shards.start_method = lambda: chosen.append(method()) or chosen[-1]
job = shards.Job(Settings(), (Rules(),), Path(sys.argv[1]), Window(), ticks=True)
asyncio.run(shards.run(job, workers=2, show=True))
print(chosen)
"""


def test_shards_fork_only_from_a_process_with_one_thread(history):
    # The CLI's path, progress bar on: its thread (and the result waiter's) start after
    # the shards, so they fork; with another thread alive, they spawn.
    ran = subprocess.run(
        [sys.executable, "-c", FORKS, str(history)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert ran.stdout.strip().splitlines()[-1] == "['fork']"
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert shards.start_method() == "spawn"
    finally:
        release.set()
        other.join()


@pytest.mark.parametrize("workers", ["0", "-1", "many"])
def test_a_bad_process_count_is_refused(workers):
    result = CliRunner().invoke(cli, ["replay", "--workers", workers])
    assert result.exit_code == 2
    assert "--workers" in result.output
