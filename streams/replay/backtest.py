"""`abm backtest`: two rule sets over the same history in one pass, and what differs.

What a team wants to know before rolling out a rule change: which accounts would sit in
another tier (and under which rule in each), which alerts sales would have gained or
lost, and what that means per tier for accounts, pipeline, win rate and cycle time.
"""

import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from streams.config import Settings
from streams.logic.kpis.kpi_report import TARGETS
from streams.logic.routes import Route, matching, tier_up
from streams.logic.rules import Rules
from streams.logic.signals.journey import stage_counts
from streams.replay import shards
from streams.replay.engine import Outcome
from streams.replay.run import Window
from streams.replay.shards import Job

__all__ = ["KPI_DELTAS", "backtest", "backtest_table", "channel_of", "compare"]

KPI_DELTAS = (
    "accounts",
    "opportunities_created",
    "open_pipeline_value",
    "won_revenue",
    "win_rate",
    "average_deal_size",
    "sales_cycle_days_mean",
    "sales_velocity_per_day",
    "engaged_contacts_7d",
    "net_revenue_retention",
    "clv_expected",
    "alerts_raised",
    "alerts_to_opportunities",
)
"""Per-tier figures whose change a rule change explains (the tier split moves them).
The alert figures are filed under the tier each alert was raised in."""
RATES = frozenset({"win_rate", "alerts_to_opportunities"})


def _figures(scope: dict[str, Any]) -> dict[str, Any]:
    """A report scope's figures, with what its alerts led to: the share of alerts (either
    group) an opportunity followed within the horizon, which is what a candidate's alerts
    are judged on."""
    alerts = scope["alerts"]
    followed = alerts["opportunities_delivered"] + alerts["opportunities_held_out"]
    raised = alerts["raised"]
    return scope | {
        "alerts_raised": raised,
        "alerts_to_opportunities": followed / raised if raised else None,
    }


def channel_of(alert: dict[str, Any]) -> str:
    """What an alert is about: `engagement`, `intent`, or `intent:<cluster>`."""
    cluster = alert.get("cluster")
    return f"{alert['kind']}:{cluster}" if cluster else alert["kind"]


def _by_channel(
    base: dict[str, dict[str, Any]], cand: dict[str, dict[str, Any]]
) -> dict[str, dict[str, int]]:
    """Alerts per channel in each rule set, and how many each gained and lost."""
    out: dict[str, dict[str, int]] = {}
    for side, alerts, other in (("baseline", base, cand), ("candidate", cand, base)):
        for alert_id, alert in alerts.items():
            row = out.setdefault(
                channel_of(alert), {"baseline": 0, "candidate": 0, "gained": 0, "lost": 0}
            )
            row[side] += 1
            if alert_id not in other:
                row["gained" if side == "candidate" else "lost"] += 1
    return dict(sorted(out.items()))


Posted = dict[str, tuple[str, str | None, int, str | None, bool, bool]]
"""What a route may post, by id: (kind, owner, tier, cluster, whether a reissue, whether
held out)."""


def _posted(outcome: Outcome, alerts: dict[str, dict[str, Any]]) -> Posted:
    """An outcome's alerts and tier-ups, as routes match them. A tier-up is known by its
    account, tiers and time, so the same move under both rule sets is one post."""
    posts: Posted = {
        alert_id: (
            a["kind"],
            a["owner"],
            a["tier"],
            a.get("cluster"),
            bool(a.get("reissue_of")),
            a["holdout"],
        )
        for alert_id, a in alerts.items()
    }
    for c in outcome.changes:
        if tier_up(c["previous_tier"], c["tier"]):
            post = f"tier_up:{c['account_id']}:{c['previous_tier']}>{c['tier']}@{c['changed_at']}"
            owner = outcome.owners.get(c["account_id"])
            posts[post] = ("tier_up", owner, c["tier"], None, False, False)
    return posts


def _by_route(
    base: Posted, cand: Posted, routes: tuple[list[Route], list[Route]]
) -> dict[str, dict[str, int]]:
    """Per route: the alerts and tier-ups it would have posted under each rule set (and
    routes), and how many the candidate gains and loses there."""
    out: dict[str, dict[str, int]] = {}
    heard: list[set[tuple[str, str]]] = []
    for posts, side_routes in ((base, routes[0]), (cand, routes[1])):
        pairs: set[tuple[str, str]] = set()
        for post_id, match in posts.items():
            for r in matching(side_routes, *match):
                pairs.add((r.name, post_id))
        heard.append(pairs)
    baseline_heard, candidate_heard = heard
    sides = (
        ("baseline", baseline_heard, candidate_heard),
        ("candidate", candidate_heard, baseline_heard),
    )
    for side, pairs, other in sides:
        for name, post_id in pairs:
            row = out.setdefault(name, {"baseline": 0, "candidate": 0, "gained": 0, "lost": 0})
            row[side] += 1
            if (name, post_id) not in other:
                row["gained" if side == "candidate" else "lost"] += 1
    return dict(sorted(out.items()))


def _delta(base: float | None, cand: float | None) -> float | None:
    return None if base is None or cand is None else cand - base


def compare(
    baseline: Outcome,
    candidate: Outcome,
    rules: tuple[Rules, Rules],
    as_of: int,
    routes: tuple[list[Route], list[Route]] = ([], []),
) -> dict[str, Any]:
    base_tiers, cand_tiers = baseline.tiers, candidate.tiers
    moved: list[dict[str, Any]] = [
        {
            "account_id": account,
            "baseline": {"tier": base_tiers[account][0], "rule": base_tiers[account][1]},
            "candidate": {"tier": cand_tiers[account][0], "rule": cand_tiers[account][1]},
        }
        for account in sorted(base_tiers)
        if base_tiers[account][0] != cand_tiers.get(account, (None,))[0]
    ]
    base_stages, cand_stages = baseline.stages, candidate.stages
    stage_moved = [
        {"account_id": a, "baseline": base_stages[a], "candidate": cand_stages.get(a)}
        for a in sorted(base_stages)
        if base_stages[a] != cand_stages.get(a)
    ]
    base_alerts = {a["alert_id"]: a for a in baseline.alerts}
    cand_alerts = {a["alert_id"]: a for a in candidate.alerts}
    base_kpis, cand_kpis = baseline.kpis(rules[0], as_of), candidate.kpis(rules[1], as_of)
    scopes = {
        scope: (_figures(base_kpis[scope]), _figures(cand_kpis[scope]))
        for scope in ("overall", TARGETS)
    } | {
        f"tier {t}": (_figures(base_kpis["tiers"][t]), _figures(cand_kpis["tiers"][t]))
        for t in base_kpis["tiers"]
    }
    return {
        "accounts": len(base_tiers),
        "moved": moved,
        "moves": {
            f"{a} -> {b}": n
            for (a, b), n in sorted(
                Counter((m["baseline"]["tier"], m["candidate"]["tier"]) for m in moved).items()
            )
        },
        "stage_moved": stage_moved,
        "stage_moves": dict(
            sorted(Counter(f"{m['baseline']} -> {m['candidate']}" for m in stage_moved).items())
        ),
        "stages": {
            "baseline": stage_counts(base_stages.values(), rules[0]),
            "candidate": stage_counts(cand_stages.values(), rules[1]),
        },
        "alerts": {"baseline": len(base_alerts), "candidate": len(cand_alerts)},
        "alerts_gained": [cand_alerts[i] for i in sorted(set(cand_alerts) - set(base_alerts))],
        "alerts_lost": [base_alerts[i] for i in sorted(set(base_alerts) - set(cand_alerts))],
        "alerts_by_channel": _by_channel(base_alerts, cand_alerts),
        "posts_by_route": _by_route(
            _posted(baseline, base_alerts), _posted(candidate, cand_alerts), routes
        ),
        "kpis": {
            scope: {
                name: {"baseline": b[name], "candidate": c[name], "delta": _delta(b[name], c[name])}
                for name in KPI_DELTAS
            }
            for scope, (b, c) in scopes.items()
        },
    }


def backtest(
    settings: Settings,
    baseline: Rules,
    candidate: Rules,
    input_dir: Path | None,
    window: Window,
    ticks: bool,
    workers: int,
    routes: tuple[list[Route], list[Route]] = ([], []),
) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        rules = (baseline, candidate)
        job = Job(settings, rules, input_dir, window, ticks)
        (base, cand), counts = await shards.run(job, workers, show=sys.stderr.isatty())
        as_of = window.end if window.end is not None else max(base.as_of(), cand.as_of())
        read = {
            "records": counts.read,
            "seconds": round(counts.seconds, 3),
            "workers": counts.workers,
        }
        return read | compare(base, cand, rules, as_of, routes)

    return asyncio.run(run())


def _fmt(value: float | None, name: str) -> str:
    if value is None:
        return "-"
    if name in RATES:
        return f"{value:+.1%}" if value else "0"
    return (
        f"{value:+,.1f}"
        if isinstance(value, float) and not value.is_integer()
        else f"{value:+,.0f}"
    )


def backtest_table(result: dict[str, Any]) -> str:
    alerts = result["alerts"]
    lines = [
        f"{result['records']:,} records, {result['accounts']:,} accounts, "
        f"{result['seconds']:.1f}s ({shards.processes(result['workers'])})",
        f"{len(result['moved']):,} accounts change tier"
        + (
            ": " + ", ".join(f"{k}: {n}" for k, n in result["moves"].items())
            if result["moved"]
            else ""
        ),
    ]
    for m in result["moved"][:20]:
        b, c = m["baseline"], m["candidate"]
        was, now = f"tier {b['tier']} ({b['rule']})", f"tier {c['tier']} ({c['rule']})"
        lines.append(f"  {m['account_id']:<24} {was} -> {now}")
    if len(result["moved"]) > 20:
        lines.append(f"  ... {len(result['moved']) - 20} more (--json lists them all)")
    stage_moves = ", ".join(f"{k}: {n}" for k, n in result["stage_moves"].items())
    lines.append(
        f"{len(result['stage_moved']):,} accounts change journey stage"
        + (f": {stage_moves}" if stage_moves else "")
    )
    lines.append(
        f"alerts: {alerts['baseline']:,} -> {alerts['candidate']:,} "
        f"({len(result['alerts_gained'])} gained, {len(result['alerts_lost'])} lost)"
    )
    by = (("", result["alerts_by_channel"]), ("posts to route ", result["posts_by_route"]))
    for label, rows in by:
        for name, n in rows.items():
            lines.append(
                f"  {label + name:<24} {n['baseline']:,} -> {n['candidate']:,} "
                f"({n['gained']} gained, {n['lost']} lost)"
            )
    lines.append("")
    lines.append(
        f"{'KPI change (candidate - baseline)':<28}" + "".join(f"{s:>14}" for s in result["kpis"])
    )
    for name in KPI_DELTAS:
        cells = "".join(
            f"{_fmt(result['kpis'][s][name]['delta'], name):>14}" for s in result["kpis"]
        )
        lines.append(f"{name:<28}{cells}")
    return "\n".join(lines)
