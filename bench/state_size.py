"""`make bench-state`: how big the account state record is, as the changelog carries it.

The live worker writes an account's whole record after each event it applies, so the
bytes per write are what the changelog, RocksDB and the broker move. This replays the
benchmark's workload (bench/workload.py, the same events as `make bench`) through the
pure logic in one process, measures the record written after every applied event (median,
p99, max) and, for the final records, which fields hold the bytes. No broker, no Redis.

    python -m bench.state_size [--events 200000] [--accounts 10000] [--skew 1.1]
"""

import statistics
import time

import click
import orjson

from bench.workload import workload
from streams.clients.produce_tail import owner_key
from streams.logic.inputs.decode import Coords, InputKind, Rejected
from streams.logic.inputs.records import decode_record
from streams.logic.rules import Rules
from streams.logic.state.state import AccountState
from streams.replay.engine import Item, Replay


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fields(state: AccountState) -> dict[str, int]:
    """Bytes of each top-level field of a record (its JSON value)."""
    return {name: len(orjson.dumps(value)) for name, value in orjson.loads(state.to_json()).items()}


def _show(title: str, sizes: dict[str, int]) -> None:
    click.echo(f"  {title}:")
    for name, size in sorted(sizes.items(), key=lambda f: -f[1])[:8]:
        click.echo(f"    {name:<16} {size:,}")


@click.command()
@click.option("--events", default=200_000, show_default=True)
@click.option("--accounts", default=10_000, show_default=True)
@click.option("--skew", type=click.FloatRange(0, 3), default=0.0, show_default=True)
def main(events: int, accounts: int, skew: float) -> None:
    rules = Rules()
    end = int(time.time() * 1000)
    replay = Replay(rules, wall_now=end, ticks=False)
    written: list[int] = []
    for offset, (name, payload) in enumerate(workload(events, accounts, end, skew=skew)):
        kind = InputKind(name)
        try:
            record = decode_record(kind, owner_key(payload), orjson.dumps(payload))
        except Rejected:
            continue
        applied = replay.applied
        replay.feed(Item(kind, Coords(kind, 0, offset, end), 0, record, owner=record.owner))
        state = replay.accounts.get(record.owner) or replay.campaigns.get(record.owner)
        if replay.applied > applied and state is not None:
            written.append(len(state.to_json()))
    states = {**replay.campaigns, **replay.accounts}
    final = [len(s.to_json()) for s in states.values()]
    click.echo(f"{len(written):,} records written for {len(states):,} accounts")
    for label, sizes in (("per write", written), ("final", final)):
        click.echo(
            f"  {label:<10} median {statistics.median(sizes):,.0f} B, "
            f"p99 {_quantile(sizes, 0.99):,} B, max {max(sizes):,} B"
        )
    per_field: dict[str, list[int]] = {}
    for state in states.values():
        for name, size in _fields(state).items():
            per_field.setdefault(name, []).append(size)
    medians = {name: int(statistics.median(v)) for name, v in per_field.items()}
    _show("median bytes per field of the final records (the largest 8)", medians)
    largest = max(states.values(), key=lambda s: len(s.to_json()))
    _show(f"bytes per field of the largest final record ({largest.account_id})", _fields(largest))


if __name__ == "__main__":
    main()
