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
from streams.logic.apply import apply_event
from streams.logic.decode import INPUT_MODELS, Coords, Rejected, decode, owner_of
from streams.logic.rules import Rules
from streams.logic.state import AccountState


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fields(states: list[AccountState]) -> dict[str, int]:
    """Median bytes of each top-level field of the final records (its JSON value)."""
    sizes: dict[str, list[int]] = {}
    for state in states:
        for name, value in orjson.loads(state.to_json()).items():
            sizes.setdefault(name, []).append(len(orjson.dumps(value)))
    return {name: int(statistics.median(v)) for name, v in sizes.items()}


@click.command()
@click.option("--events", default=200_000, show_default=True)
@click.option("--accounts", default=10_000, show_default=True)
@click.option("--skew", type=click.FloatRange(0, 3), default=0.0, show_default=True)
def main(events: int, accounts: int, skew: float) -> None:
    rules = Rules()
    end = int(time.time() * 1000)
    states: dict[str, AccountState] = {}
    written: list[int] = []
    for offset, (kind, payload) in enumerate(workload(events, accounts, end, skew=skew)):
        model = INPUT_MODELS[kind]
        raw = orjson.dumps(payload)
        try:
            event = decode(model, owner_of(model.model_validate_json(raw)).encode(), raw)
            owner = owner_of(event)
            applied = apply_event(
                states.get(owner), event, Coords(kind, 0, offset, end), rules, end, {}
            )
        except Rejected:
            continue
        if applied.duplicate:
            continue
        states[owner] = applied.state
        written.append(len(applied.state.to_json()))
    final = [len(s.to_json()) for s in states.values()]
    click.echo(f"{len(written):,} records written for {len(states):,} accounts")
    for label, sizes in (("per write", written), ("final", final)):
        click.echo(
            f"  {label:<10} median {statistics.median(sizes):,.0f} B, "
            f"p99 {_quantile(sizes, 0.99):,} B, max {max(sizes):,} B"
        )
    click.echo("  median bytes per field of the final records:")
    for name, size in sorted(_fields(list(states.values())).items(), key=lambda f: -f[1]):
        click.echo(f"    {name:<16} {size:,}")


if __name__ == "__main__":
    main()
