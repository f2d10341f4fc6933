"""A backtest (or a tuning) as one self-contained HTML file: tables and charts, readable
offline.

Chart.js is the dashboard's vendored copy, inlined, and the backtest's JSON is embedded
as data: the file can be mailed or archived with the rule change it justified. Text from
events (account ids, rules) is inserted by the page with textContent, never as HTML.
"""

from pathlib import Path
from typing import Any

import orjson

from streams.dashboard.pages import STATIC

__all__ = ["embedded_json", "write_report"]

TEMPLATE = Path(__file__).with_name("report.html")
COMMON = Path(__file__).with_name("report.js")
"""The script every report's page starts with (its data, and a table row as text)."""


def embedded_json(value: object) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` at all (a "</script>" or
    "<!--" from an account id would end or bend the element), each as JSON's \\u escape,
    which only strings can hold."""
    text = orjson.dumps(value).decode()
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def write_report(result: dict[str, Any], path: Path, template: Path = TEMPLATE) -> None:
    """`result` in `template` (the backtest's by default; `abm tune` has its own)."""
    chart = (STATIC / "chart.umd.min.js").read_text()
    data = embedded_json(result)
    page = (
        template.read_text()
        .replace("__CHART__", chart)
        .replace("__COMMON__", COMMON.read_text())
        .replace("__DATA__", data)
    )
    path.write_text(page)
