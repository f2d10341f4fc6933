"""What `abm tune`'s report says: each rule set's figures in a period, and each changed
key with what it rests on."""

import math
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from streams.logic.rules import Rules
from streams.tune.alerts import Tally, alert_score
from streams.tune.icp import ICP_KEYS, Choices
from streams.tune.interval import Lift
from streams.tune.score import Figures
from streams.tune.search import Constraints, Found
from streams.tune.surges import EXITS

__all__ = [
    "alerts_said",
    "as_json",
    "changes",
    "figures",
    "surge_evidence",
    "tier_evidence",
    "tiers_said",
    "weeks",
]

GLOBAL_KEYS = ("intent_min_score", "engagement_min_points", "engagement_min_contacts")


def as_json(value: Lift) -> dict[str, float | None]:
    return {"value": value.value, "low": value.low, "high": value.high}


def weeks(period: tuple[int, int]) -> int:
    """The period's weeks, a part week counted whole."""
    return max(1, math.ceil((period[1] - period[0]) / 7))


def figures(
    f: Figures,
    lifted: Lift,
    alerts: Tally,
    alert_lift: Lift,
    period: tuple[int, int],
    constraints: Constraints,
    max_alerts: int | None,
) -> dict[str, Any]:
    """One rule set's figures in one period: its tiers, and its alerts."""
    said = alerts.figures(weeks(period)) | {"lift": as_json(alert_lift)}
    met = {
        "max_tier1": constraints.max_tier1 is None or f.peak_accounts[1] <= constraints.max_tier1,
        "max_tier2": constraints.max_tier2 is None or f.peak_accounts[2] <= constraints.max_tier2,
        "max_alerts_per_owner_week": max_alerts is None or said["max_per_owner_week"] <= max_alerts,
    }
    days = period[1] - period[0]
    return {
        "accounts_per_tier_peak": {f"tier_{t}": f.peak_accounts[t] for t in (1, 2, 3)}
        | {"untiered": f.peak_accounts[0]},
        "accounts_per_tier_mean": {f"tier_{t}": round(f.tier_days[t] / days, 1) for t in (1, 2, 3)}
        | {"untiered": round(f.tier_days[0] / days, 1)},
        "opportunity_rate_tier1": f.opportunity_rate_tier1,
        "opportunity_rate_rest": f.opportunity_rate_rest,
        "lift": as_json(lifted),
        "alerts": said,
        "constraints_met": met | {"all": all(met.values())},
    }


def tiers_said(f: Figures, days: int) -> str:
    """A candidate's training lift and tier-1 size: what a tier or ICP change is kept for
    (`days`: the training period's)."""
    rate1, rate0 = f.opportunity_rate_tier1, f.opportunity_rate_rest
    lifted = "-" if rate1 is None or not rate0 else f"{rate1 / rate0:.2f}"
    return f"lift {lifted} with {f.tier_days[1] / days:,.0f} accounts in tier 1 (mean)"


def alerts_said(t: Tally, base_rate: float) -> str:
    """A surge candidate's training alerts: what a surge change is kept for."""
    lifted = f"{t.hits() / t.alerts() / base_rate:.2f}" if t.alerts() and base_rate else "-"
    return (
        f"alert lift {lifted} (shrunk {alert_score(t, base_rate):.2f}): {t.hits():,} of "
        f"{t.alerts():,} alerts followed, at most {t.most_per_owner_week()} per owner-week"
    )


def tier_evidence(found: Found, icp: Choices, days: int) -> Callable[[str, Any], str]:
    """What a tier or ICP change rests on: the training lift and tier-1 size with it and
    without it, and for an ICP value what its accounts did."""

    def evidence(key: str, now: Any) -> str:
        said = f"training: {tiers_said(found.figures, days)}"
        if key in found.without:
            said += f"; without this change {tiers_said(found.without[key], days)}"
        if key.startswith("icp."):
            why = icp.why[key[4:]].get(orjson.dumps(now).decode())
            said += f"; {why}" if why else ""
        return said

    return evidence


def surge_evidence(
    tuned: Tally, without: Mapping[str, Tally], base_rate: float
) -> Callable[[str, Any], str]:
    """What a surge change rests on: the tuned rules' training alerts, and theirs without
    the change (each replayed); an exit threshold moves with its enter threshold."""
    moved_by = {exit_key: key for key, (exit_key, _) in EXITS.items()}

    def evidence(key: str, now: Any) -> str:
        name = key.removeprefix("surge.")
        if name in moved_by:
            return f"moved with surge.{moved_by[name]}, in proportion"
        said = f"training: {alerts_said(tuned, base_rate)}"
        if name in without:
            said += f"; without this change {alerts_said(without[name], base_rate)}"
        return said

    return evidence


def changes(
    rules: Rules, tuned: Rules, evidence: Mapping[str, Callable[[str, Any], str]]
) -> list[dict[str, Any]]:
    """Each changed key: its old and new value, and its evidence (`evidence`: by the
    part of the rules the key is in, "tiers" or "surge")."""
    old, new = rules.model_dump(mode="json"), tuned.model_dump(mode="json")
    changed = [("tiers", key, old[key], new[key]) for key in GLOBAL_KEYS]
    changed += [("tiers", f"icp.{key}", old["icp"][key], new["icp"][key]) for key in ICP_KEYS]
    changed += [
        ("tiers", f"tiers.{now['name']}.{key}", was[key], value)
        for was, now in zip(old["tiers"], new["tiers"], strict=True)
        for key, value in now.items()
    ]
    changed += [
        ("surge", f"surge.{key}", old["surge"][key], value) for key, value in new["surge"].items()
    ]
    return [
        {"key": key, "was": was, "now": now, "evidence": evidence[part](key, now)}
        for part, key, was, now in changed
        if was != now
    ]
