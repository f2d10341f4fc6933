"""The KPI report as a table for people: one row per KPI, a column per scope."""

from datetime import UTC, datetime
from typing import Any

__all__ = ["campaign_table", "kpi_table", "owner_table", "unmatched_table"]

SCOPES = [
    ("overall", "all"),
    ("targets", "targets"),
    ("1", "tier 1"),
    ("2", "tier 2"),
    ("3", "tier 3"),
    ("0", "untiered"),
]
_PERCENT = (
    "_rate",
    "rate_30d",
    "rate_by_value",
    "roi",
    "coverage_30d",
    "rate_delivered",
    "rate_held_out",
)
ALERTS = "alerts"
LIFT = ("lift", "lift_ci_95", "lift_method", "lift_note")
"""The alerts' lift figures: a line per scope under the alerts table, not rows in it, so
the "not enough data" note reads whole instead of as a number or a dash."""


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    percent = any(part.endswith(_PERCENT) or "conversion" in part for part in name.split(": "))
    if isinstance(value, float) and percent:
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}"


def _rows(scopes: list[Any], name: str = "") -> list[tuple[str, list[Any]]]:
    """A row per figure; a group (funnel, conversions, journey) gives a row per part,
    named `group: part`."""
    if not isinstance(scopes[0], dict):
        return [(name, scopes)]
    rows: list[tuple[str, list[Any]]] = []
    for part in scopes[0]:
        label = f"{name}: {part}" if name else part
        rows += _rows([s.get(part) if isinstance(s, dict) else None for s in scopes], label)
    return rows


def _line(first: str, width: int, values: list[str], widths: list[int]) -> str:
    return (
        first.ljust(width)
        + "  "
        + "  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))
    )


def _table(title: str, first: str, labels: list[str], rows: list[tuple[str, list[str]]]) -> str:
    width = max(len(first), *(len(name) for name, _ in rows))
    widths = [max(len(label), *(len(r[1][i]) for r in rows)) for i, label in enumerate(labels)]
    lines = [title, _line(first, width, labels, widths)]
    lines += [_line(name, width, values, widths) for name, values in rows]
    return "\n".join(lines)


def kpi_table(report: dict[str, Any]) -> str:
    """Every KPI, then the alerts' figures as a block of their own with the lift below."""
    scopes = [report[key] if key in report else report["tiers"][key] for key, _ in SCOPES]
    labels = [label for _, label in SCOPES]
    kpis = _table(
        f"KPIs as of {report['as_of']}",
        "",
        labels,
        _cells(_rows([{k: v for k, v in s.items() if k != ALERTS} for s in scopes])),
    )
    alerts = [s[ALERTS] for s in scopes]
    counts = _rows([{k: v for k, v in a.items() if k not in LIFT} for a in alerts])
    block = _table("Alerts (docs/kpis.md#alerts)", "", labels, _cells(counts))
    width = max(len(label) for label in labels)
    lifts = [f"  {label.ljust(width)}  {_lift(a)}" for label, a in zip(labels, alerts, strict=True)]
    return "\n".join([kpis, "", block, f"lift ({alerts[0]['lift_method']}):", *lifts])


def _cells(rows: list[tuple[str, list[Any]]]) -> list[tuple[str, list[str]]]:
    return [(name, [_cell(name, v) for v in values]) for name, values in rows]


def _lift(alerts: dict[str, Any]) -> str:
    """The lift and its interval, or the report's note saying why there is none."""
    if alerts["lift"] is None:
        return str(alerts["lift_note"])
    low, high = alerts["lift_ci_95"]
    return f"{alerts['lift']:.2f} (95% interval {low:.2f} to {high:.2f})"


def _listing(
    title: str, first: str, items: list[tuple[str, dict[str, Any]]], columns: list[tuple[str, str]]
) -> str:
    """A row per item (campaign, owner), a column per figure."""
    rows = [(name, [_cell(key, figures[key]) for key, _ in columns]) for name, figures in items]
    return _table(title, first, [label for _, label in columns], rows)


CAMPAIGN_COLUMNS = [
    ("accounts_touched", "accounts"),
    ("engaged_contacts", "contacts"),
    ("spend", "spend"),
    ("opportunities_influenced", "opps infl."),
    ("pipeline_influenced", "pipeline infl."),
    ("won_revenue_influenced", "won infl."),
    ("opportunities_sourced", "opps src."),
    ("pipeline_sourced", "pipeline src."),
    ("won_revenue_sourced", "won src."),
    ("roi", "roi"),
]


def campaign_table(report: dict[str, Any]) -> str:
    """A row per campaign (influenced: engaged within the attribution window before the
    opportunity was created; sourced: the account's first touch)."""
    campaigns = report["campaigns"]
    if not campaigns:
        return f"Campaigns as of {report['as_of']}: none seen yet"
    title = f"Campaigns as of {report['as_of']}"
    return _listing(title, "campaign", list(campaigns.items()), CAMPAIGN_COLUMNS)


OWNER_COLUMNS = [
    ("delivered", "delivered"),
    ("responded", "responded"),
    ("sla_rate", "within SLA"),
    ("response_minutes_p50", "p50 min"),
    ("response_minutes_p90", "p90 min"),
    ("opportunity_rate_delivered", "opp. rate"),
    ("pipeline_per_alert", "pipeline/alert"),
]


def owner_table(report: dict[str, Any]) -> str:
    """What a sales manager asks of each seller's alerts, busiest first (most delivered).
    Every figure is of delivered alerts: a held-out one told no seller."""
    owners = report["owners"]
    if not owners:
        return f"Alerts by owner as of {report['as_of']}: none raised yet"
    busiest = sorted(owners.items(), key=lambda item: (-item[1]["delivered"], item[0]))
    title = f"Alerts by owner as of {report['as_of']} (delivered alerts; docs/kpis.md#alerts)"
    return _listing(title, "owner", busiest, OWNER_COLUMNS)


def _day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def unmatched_table(report: dict[str, Any]) -> str:
    """`abm unmatched`: the business domains engaging that are not accounts, busiest first."""
    totals = report["unmatched_events"]
    summary = ", ".join(f"{reason} {n:,}" for reason, n in sorted(totals.items())) or "none"
    title = f"Unmatched events in the last {report['days']} days: {summary}"
    if not report["domains"]:
        return f"{title}\nNo business domain engaged that is not an account."
    labels = ["events", "people", "first seen (UTC)", "last seen (UTC)"]
    rows = [
        (
            d["domain"],
            [f"{d['events']:,}", f"{d['people']:,}", _day(d["first_seen"]), _day(d["last_seen"])],
        )
        for d in report["domains"]
    ]
    return _table(title, "domain", labels, rows)
