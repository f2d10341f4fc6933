"""The KPI report as a table for people: one row per KPI, a column per scope."""

from datetime import UTC, datetime
from typing import Any

__all__ = ["campaign_table", "kpi_table", "unmatched_table"]

SCOPES = [
    ("overall", "all"),
    ("targets", "targets"),
    ("1", "tier 1"),
    ("2", "tier 2"),
    ("3", "tier 3"),
    ("0", "untiered"),
]
_PERCENT = ("_rate", "rate_30d", "rate_by_value", "roi", "coverage_30d")


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
    scopes = [report[key] if key in report else report["tiers"][key] for key, _ in SCOPES]
    rows = [(name, [_cell(name, v) for v in values]) for name, values in _rows(scopes)]
    labels = [label for _, label in SCOPES]
    return _table(f"KPIs as of {report['as_of']}", "", labels, rows)


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
    rows = [
        (name, [_cell(key, figures[key]) for key, _ in CAMPAIGN_COLUMNS])
        for name, figures in campaigns.items()
    ]
    labels = [label for _, label in CAMPAIGN_COLUMNS]
    return _table(f"Campaigns as of {report['as_of']}", "campaign", labels, rows)


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
