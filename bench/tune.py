"""`abm tune` at scale: a year of a planted history (streams/dev/planted.py) over many
accounts, recorded once, then the search with its full candidate budget.

Prints (and writes to --json) how long each phase took: writing the history (not part of
tuning), the one pass that records every account's runs and labels them, the ICP
segments, and the search; and the goal: the pass and the search together under
GOAL_S. No broker: tuning reads the history from files here as `--input-dir` does.
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from streams.compiled import mode
from streams.config import Settings
from streams.dev.planted import write_history
from streams.logic.rules import Rules
from streams.replay.shards import default_workers, processes
from streams.tune.command import Options, prepare
from streams.tune.icp import choices
from streams.tune.search import Constraints, search
from streams.tune.segments import starts

GOAL_S = 120.0
"""10,000 accounts x 365 days x 1,000 candidates: the recording pass and the search."""


def run(accounts: int, days: int, candidates: int, workers: int, directory: Path) -> dict[str, Any]:
    began = time.monotonic()
    history = write_history(directory, accounts=accounts, days=days, base_rate=0.002)
    written = time.monotonic()
    rules = Rules()
    prepared = prepare(Settings(), rules, directory, Options(), workers)
    recorded = time.monotonic()
    labelled = prepared.labelled
    assert labelled.firmographics is not None
    icp = choices(labelled.firmographics, prepared.hit(), rules.icp)
    cap = max(1, accounts // 10)
    begin = starts(labelled.firmographics, prepared.hit(), rules, icp, 2 * cap)
    segmented = time.monotonic()
    found = search(
        labelled, rules, prepared.periods.train, candidates, Constraints(cap), icp, starts=begin
    )
    searched = time.monotonic()
    assert found is not None
    tuning = searched - written
    return {
        "logic": mode(),
        "accounts": accounts,
        "days": days,
        "workers": workers,
        "events": sum(history.records.values()),
        "runs": len(prepared.runs),
        "candidates": found.tried,
        "seconds": {
            "write_history": round(written - began, 1),
            "record_and_label": round(recorded - written, 1),
            "segments": round(segmented - recorded, 1),
            "search": round(searched - segmented, 1),
            "tuning": round(tuning, 1),
        },
        "candidates_per_s": round(found.tried / (searched - segmented), 1),
        "goal": {"seconds": GOAL_S, "met": tuning < GOAL_S},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument(
        "--workers", type=int, default=default_workers(Settings()), help="recording processes"
    )
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as directory:
        result = run(args.accounts, args.days, args.candidates, args.workers, Path(directory))
    s = result["seconds"]
    print(
        f"abm tune ({result['logic']}): {result['accounts']:,} accounts x {result['days']} days "
        f"({result['events']:,} events, {result['runs']:,} runs), "
        f"recorded in {processes(result['workers'])}, "
        f"{result['candidates']:,} candidates"
    )
    print(
        f"  record and label {s['record_and_label']}s, segments {s['segments']}s, "
        f"search {s['search']}s ({result['candidates_per_s']} candidates/s); "
        f"tuning {s['tuning']}s (history written in {s['write_history']}s, not counted)"
    )
    met = "met" if result["goal"]["met"] else "NOT met"
    print(f"  goal: tuning under {GOAL_S:.0f}s: {met}")
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
