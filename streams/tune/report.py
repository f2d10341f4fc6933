"""`abm tune`'s result for people: the terminal table, the rules file's header, and the
HTML report (replay/report.py's page machinery with tune's own template)."""

from pathlib import Path
from typing import Any

import orjson

from streams.replay.report import write_report

__all__ = ["TEMPLATE", "file_header", "tune_table", "write_html"]

TEMPLATE = Path(__file__).with_name("report.html")
COLUMNS = (("train", "current"), ("train", "tuned"), ("test", "current"), ("test", "tuned"))


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _lift(lift: dict[str, float | None]) -> str:
    if lift["low"] is None:
        return _number(lift["value"])
    return f"{_number(lift['value'])} ({_number(lift['low'])}-{_number(lift['high'])})"


LINES = (
    ("tier 1 accounts, most on a day", lambda f: str(f["accounts_per_tier_peak"]["tier_1"])),
    ("tier 1 accounts, mean", lambda f: str(f["accounts_per_tier_mean"]["tier_1"])),
    ("tier 2 accounts, mean", lambda f: str(f["accounts_per_tier_mean"]["tier_2"])),
    ("opportunity rate, tier 1", lambda f: _rate(f["opportunity_rate_tier1"])),
    ("opportunity rate, the rest", lambda f: _rate(f["opportunity_rate_rest"])),
    ("lift (95% interval)", lambda f: _lift(f["lift"])),
    ("alerts raised", lambda f: f"{f['alerts']['raised']:,}"),
    ("alerts followed by an opportunity", lambda f: _rate(f["alerts"]["rate"])),
    ("alert lift (95% interval)", lambda f: _lift(f["alerts"]["lift"])),
    ("alerts per owner-week", lambda f: str(f["alerts"]["per_owner_week"])),
    ("alerts per owner-week, most", lambda f: str(f["alerts"]["max_per_owner_week"])),
    ("constraints met", lambda f: "yes" if f["constraints_met"]["all"] else "no"),
)


def _searched(result: dict[str, Any]) -> str:
    """What the searches tried: tier candidates scored, surge rule sets replayed."""
    said = []
    if result["searched"]:
        said.append(f"{result['searched']:,} candidates scored")
    if result["surge_rules_replayed"]:
        said.append(f"{result['surge_rules_replayed']:,} surge rule sets replayed")
    return " and ".join(said) or "nothing searched"


def tune_table(result: dict[str, Any]) -> str:
    train, test = result["periods"]["train"], result["periods"]["test"]
    matches = all(result["replay_matches"].values())
    searched = result["seconds"]["record_and_search"]
    lines = [
        f"{result['accounts']:,} accounts; objective: {result['objective']} within "
        f"{result['horizon_days']} days",
        f"training {train[0]} to {train[1]} ({result['outcomes']['train']:,} outcomes), "
        f"held out {test[0]} to {test[1]} ({result['outcomes']['test']:,})",
        f"{_searched(result)} in {searched:.1f}s; the replay's tiers "
        + ("give the same figures" if matches else "DIFFER from the table"),
        "",
        f"{'':<32}{'training':>36}{'held out':>36}",
        f"{'':<32}" + "".join(f"{side:>18}" for _, side in COLUMNS),
    ]
    for name, value in LINES:
        cells = "".join(f"{value(result[period][side]):>18}" for period, side in COLUMNS)
        lines.append(f"{name:<32}{cells}")
    lines.append("")
    lines.append(f"{len(result['changes'])} changes" + (":" if result["changes"] else ""))
    for change in result["changes"]:
        was, now = orjson.dumps(change["was"]).decode(), orjson.dumps(change["now"]).decode()
        lines.append(f"  {change['key']}: {was} -> {now}")
        lines.append(f"      {change['evidence']}")
    verdict = result["verdict"]
    lines.append("")
    lines.append(
        f"verdict: {verdict['says']}; overfitting (training lift - held-out lift): "
        f"{_number(verdict['overfitting'])}"
    )
    return "\n".join(lines)


def file_header(result: dict[str, Any]) -> list[str]:
    """The comment lines on top of the tuned rules file."""
    train, test = result["periods"]["train"], result["periods"]["test"]
    return [
        "Rules tuned by `abm tune` on the history's own outcomes.",
        f"Objective: {result['objective']} within {result['horizon_days']} days of "
        + ("an alert." if result["objective"] == "alerts" else "a tier-1 day."),
        f"Trained on {train[0]} to {train[1]}, judged on {test[0]} to {test[1]}:",
        f"  {result['verdict']['says']}.",
        "Each changed key says its old value and its evidence. Check it before rolling out:",
        "  abm backtest --candidate THIS_FILE",
    ]


def write_html(result: dict[str, Any], path: Path) -> None:
    write_report(result, path, TEMPLATE)
