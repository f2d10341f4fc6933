"""`abm replay`: history through one rule set, reported as a table or JSON."""

import asyncio
import sys
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.common import to_ms
from streams.config import Settings
from streams.kpi_table import kpi_table
from streams.logic.rules import Rules
from streams.replay import shards
from streams.replay.publish import Namespace, publish
from streams.replay.run import Window, summary
from streams.replay.shards import Job

__all__ = ["event_time", "replay", "replay_table"]


def event_time(text: str | None, option: str) -> int | None:
    """`2026-09-01` or an ISO-8601 time (UTC unless it says otherwise) as epoch ms."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option}: {text!r} is not an ISO-8601 date or time") from None
    # Without an offset, UTC (as event times are stored), never the machine's own zone.
    return to_ms(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def replay(
    settings: Settings,
    rules: Rules,
    input_dir: Path | None,
    window: Window,
    ticks: bool,
    workers: int,
    publish_to: Namespace | None = None,
) -> dict[str, Any]:
    """What `rules` decide over the history; also written under `publish_to` if given."""

    async def run() -> dict[str, Any]:
        job = Job(settings, (rules,), input_dir, window, ticks)
        (outcome,), counts = await shards.run(job, workers, show=sys.stderr.isatty())
        result = summary(outcome, rules, counts, window.end)
        if publish_to is not None:
            result["published"] = {
                **asdict(publish_to),
                **await publish(settings, publish_to, result),
            }
        return result

    return asyncio.run(run())


def replay_table(result: dict[str, Any]) -> str:
    tiers = Counter(t["tier"] for t in result["tiers"].values())
    rejected = ", ".join(f"{n} {reason}" for reason, n in result["rejected"].items()) or "none"
    lines = [
        f"{result['records']:,} records in {result['seconds']:.1f}s "
        f"({result['events_per_s']:,} events/s, {shards.processes(result['workers'])}); "
        f"applied {result['applied']:,}, "
        f"duplicates {result['duplicates']:,}, rejected: {rejected}; "
        f"outside the range {result['outside_range']:,}",
        f"as of {result['as_of']}: {len(result['tiers']):,} accounts: "
        + ", ".join(f"Tier {t} {tiers.get(t, 0)}" for t in (1, 2, 3))
        + f", untiered {tiers.get(0, 0)}",
        "journey: " + ", ".join(f"{stage} {n:,}" for stage, n in result["stage_counts"].items()),
        f"{len(result['transitions']):,} tier transitions, "
        f"{len(result['stage_transitions']):,} stage transitions, "
        f"{len(result['alerts']):,} surge alerts, "
        f"{len(result['alert_outcomes']):,} alert outcomes (--json lists them all)",
        "",
        kpi_table(result["kpis"]),
    ]
    if published := result.get("published"):
        lines.append(
            f"published: {published['transitions']:,} transitions to "
            f"{published['tier_changes']}, {published['stage_transitions']:,} to "
            f"{published['stage_changes']}, {published['alerts']:,} alerts to "
            f"{published['surge_alerts']}, {published['outcomes']:,} outcomes to "
            f"{published['alert_outcomes']}, KPIs and tiers to Redis "
            f"{published['redis_prefix']}*"
        )
    return "\n".join(lines)
