"""`abm demo` as a user runs it, and its dashboard in a real browser.

The demo runs as a subprocess (a small world, no live traffic, so the figures hold
still); the test reads what it prints, then headless Chromium opens the dashboard it
names, and every tile and the data behind every chart must equal `abm kpis --json`
against the demo's stack. A screenshot is kept in test-artifacts/. Ctrl-C must stop
everything. The browser part skips only where Chromium and its driver are not installed
(.ci/run installs them). The demo holds no alert out, so the alerts panel's lift is also
shown from hand-made reports, on the dashboard's own page served from loopback.
"""

import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from click.testing import CliRunner

from streams.child_processes import die_with_parent
from streams.cli import cli
from streams.dashboard.pages import ASSETS, STATIC
from streams.dev.synth import PROSPECTS
from streams.logic.kpis.kpi_report import report
from streams.logic.kpis.kpis import SCALE
from streams.logic.rules import Rules
from tests.harness import ARTIFACTS, wait_until
from tests.tools import unavailable

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ACCOUNTS = 300
EMPTY = "\u2013"
"""What a tile shows for a null KPI (an en dash)."""


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    lines: list[str]
    env: dict[str, str]
    url: str


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"demo never printed {pattern!r}:\n" + "\n".join(lines[-40:]))


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams",
            "demo",
            "--accounts",
            str(ACCOUNTS),
            "--days",
            "40",
            "--live-minutes",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent,
        env={**os.environ, "COLUMNS": "120"},
    )
    try:
        lines = _read_until(proc, r"Ctrl-C stops everything", 240)
        url = next(m[1] for line in lines if (m := re.search(r"Dashboard: (\S+)", line)))
        exports = next(line for line in lines if line.strip().startswith("export "))
        env = dict(pair.split("=", 1) for pair in exports.split()[1:])
        yield Demo(proc, lines, env, url)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_demo_loads_history_and_says_where_to_look(demo):
    text = "\n".join(demo.lines)
    assert re.search(rf"{ACCOUNTS} account profiles .* {ACCOUNTS}/{ACCOUNTS}", text)
    assert re.search(r"40 days of history .* (\d+)/\1", text), text
    tiers = re.search(r"Tiers: (\d+) Tier 1, (\d+) Tier 2, (\d+) Tier 3, (\d+) untiered", text)
    assert tiers, text
    assert sum(map(int, tiers.groups())) == ACCOUNTS, text
    assert re.search(r"KPIs: \d+ accounts engaged in 7 days, \d+ opportunities", text)
    website = re.search(
        r"Website: ([\d,]+) Segment calls .*; ([\d,]+) events matched to accounts .* "
        r"companies engaging that are not accounts: (\S+) \(",
        text,
    )
    assert website, text
    assert int(website[2].replace(",", "")) > 0
    assert website[3] in PROSPECTS
    assert re.search(r"Buying committee: .* Tier 1 \d+%, Tier 2 \d+%, Tier 3 \d+%", text), text
    assert re.search(r"Journey: customer \d+ > opportunity \d+ > mqa \d+ > .* unaware \d+", text)
    routes = re.search(r"deliveries so far: alice (\d+), bob (\d+) \(all signatures valid\)", text)
    assert routes, text
    assert all(int(n) > 0 for n in routes.groups()), text  # each owner's route heard
    assert_alerts_line(text)
    assert "Target accounts surging now:" in text
    start = demo.lines.index("Target accounts surging now:") + 1
    rows = list(itertools.takewhile(lambda line: " strength " in line, demo.lines[start:]))
    assert all(re.search(r" tier [123] ", row) for row in rows), rows  # sales hears of targets
    assert demo.url.startswith("http://127.0.0.1:")
    assert demo.url.endswith("/dashboard")


ALERTS = re.compile(
    r"Alerts: (?P<raised>\d+) raised, (?P<delivered>\d+) delivered \((?P<answered>\d+)% answered, "
    r"median (?:\d+ min|n/a)\), (?P<held_out>\d+) held out; opportunities after (?:\d+%|n/a) of "
    r"delivered vs (?:\d+%|n/a) of held-out alerts: lift (?:(?P<lift>\d+\.\d) \(95% CI "
    r"(?P<low>\d+\.\d)-(?P<high>\d+\.\d)\)|n/a \((?P<note>not enough data: .*)\))  \(abm kpis\)$",
    re.MULTILINE,
)


def assert_alerts_line(text: str) -> None:
    """What followed the alerts, said once the history is in: the demo holds out a fifth
    of the episodes and its sellers answer most of the others."""
    line = ALERTS.search(text)
    assert line, text
    raised, delivered, held_out = (int(line[k]) for k in ("raised", "delivered", "held_out"))
    assert raised == delivered + held_out > 0, line[0]
    assert 0 < held_out < delivered, line[0]
    # Answered as the world's sellers answered the replay's alerts: the worker raises a
    # few otherwise (its topics interleave within a week), so short of the world's 80%.
    assert int(line["answered"]) >= 30, line[0]
    if line["lift"] is not None:
        assert float(line["low"]) <= float(line["lift"]) <= float(line["high"]), line[0]


def settled_kpis(env: dict[str, str]) -> dict:
    """`abm kpis --json` once two readings agree (as_of is the wall clock: left out)."""
    previous = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = CliRunner().invoke(cli, ["kpis", "--json"], env=env, catch_exceptions=False)
        report = json.loads(result.output)
        report.pop("as_of")
        if report == previous:
            return report
        previous = report
        time.sleep(1)
    raise AssertionError("the KPIs did not settle")


def same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9)
    return a == b


def pick(report: dict, path: str) -> object:
    for key in path.split("."):
        report = report[key]
    return report


SHOWN = (
    "return [...document.querySelectorAll('[data-kpi]')]"
    ".map(t => [t.dataset.kpi, t.dataset.value, (t.querySelector('p') || t).textContent])"
)
"""Every figure the page shows by its place in the report: tiles and the alerts panel."""
LIFT = "return document.getElementById('alerts-lift').textContent"


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        unavailable("chromium and chromium-driver are not installed", "ABM_BROWSER_TEST")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_the_dashboard_shows_what_abm_kpis_says(demo, browser):
    report = settled_kpis(demo.env)
    browser.get(demo.url)

    def tiles():
        if browser.execute_script("return document.body.dataset.loaded !== 'true'"):
            return None
        shown = browser.execute_script(SHOWN)
        agree = all(same(json.loads(value), pick(report, path)) for path, value, _ in shown)
        return agree and shown

    shown = wait_until(tiles, 30, "the tiles showing the CLI's figures", step=0.5)
    panel = [path for path, _, _ in shown if path.startswith("targets.alerts.")]
    assert len(shown) - len(panel) == 15
    assert len(panel) == 7
    assert {"targets.win_rate", "targets.won_revenue"} <= {path for path, _, _ in shown}
    for path, _value, text in shown:
        assert text != EMPTY or pick(report, path) is None, (path, text)
    assert pick(report, "targets.alerts.delivered") > 0  # the demo's surges raised alerts
    alerts = pick(report, "targets.alerts")
    shown_lift = browser.execute_script(LIFT)
    if alerts["lift"] is None:  # too few alerts in a group: the note, never a number
        assert shown_lift == f"Lift: {alerts['lift_note']}"
    else:
        low, high = (f"{v:.2f}x" for v in alerts["lift_ci_95"])
        assert shown_lift == f"Lift: {alerts['lift']:.2f}x (95% interval {low} to {high})"

    def chart(canvas: str) -> dict:
        return browser.execute_script(
            "const c = Chart.getChart(arguments[0]);"
            "return {labels: c.data.labels, data: c.data.datasets.map(d => d.data)};",
            canvas,
        )

    days = list(report["daily"])
    assert len(days) >= 30
    series = {
        "chart-engagement": ["engaged_accounts", "engagement_points"],
        "chart-pipeline": ["opportunities_created", "won_revenue"],
        "chart-winrate": ["win_rate"],
    }
    for canvas, names in series.items():
        drawn = chart(canvas)
        assert drawn["labels"] == days, canvas
        for name, values in zip(names, drawn["data"], strict=True):
            want = [report["daily"][d][name] for d in days]
            assert all(same(a, b) for a, b in zip(values, want, strict=True)), (canvas, name)
    tiers = chart("chart-tiers")["data"][0]
    assert tiers == [report["tiers"][t]["accounts"] for t in ("1", "2", "3", "0")]
    journey, funnel = chart("chart-journey"), report["overall"]["journey"]
    stages = list(reversed(funnel["accounts_by_stage"]))
    assert journey["labels"] == stages
    assert journey["data"] == [
        [funnel["accounts_by_stage"][s] for s in stages],
        [funnel["reached"].get(s) for s in stages],
    ]
    assert len({s for s in stages if funnel["accounts_by_stage"][s]}) >= 3  # a funnel, shown
    people = chart("chart-people")
    assert people["labels"] == days
    want = [report["daily"][d]["engaged_contacts_7d"]["targets"] for d in days]
    assert people["data"][0] == want
    assert any(want)
    campaigns = browser.execute_script(
        "return [...document.querySelectorAll('#campaigns tbody tr')]"
        ".map(r => [...r.cells].map(c => c.textContent))"
    )
    assert [row[0] for row in campaigns] == list(report["campaigns"]) != []
    rows = browser.execute_script(
        "return ['surging', 'changes', 'lag'].map(id => "
        "document.querySelectorAll('#' + id + ' tbody tr').length)"
    )
    assert min(rows) > 0, f"surging, changes, lag rows: {rows}"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))


def test_the_alerts_line_says_what_abm_kpis_says(demo):
    alerts = settled_kpis(demo.env)["overall"]["alerts"]
    line = ALERTS.search("\n".join(demo.lines))
    assert line, demo.lines
    for key in ("raised", "delivered", "held_out"):
        assert int(line[key]) == alerts[key], (key, line[0], alerts)
    if alerts["lift"] is None:
        assert line["note"] == alerts["lift_note"], (line[0], alerts)
    else:
        assert float(line["lift"]) == round(alerts["lift"], 1), (line[0], alerts)


def test_ctrl_c_stops_everything(demo):
    demo.proc.send_signal(signal.SIGINT)
    rest = demo.proc.communicate(timeout=60)[0]
    assert demo.proc.returncode == 0, rest
    assert "Stopping the worker and the view, then the broker and Redis" in rest


class DashboardServer(ThreadingHTTPServer):
    """Serves the dashboard's own page and assets, and `data` as /dashboard/data."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), DashboardFiles)
        self.data: dict = {}


class DashboardFiles(BaseHTTPRequestHandler):
    server: DashboardServer

    def do_GET(self) -> None:
        name = self.path.removeprefix("/dashboard/static/")
        if self.path == "/dashboard":
            body, kind = (STATIC / "index.html").read_bytes(), "text/html"
        elif self.path == "/dashboard/data":
            body, kind = orjson.dumps(self.server.data), "application/json"
        elif name in ASSETS:
            body, kind = (STATIC / name).read_bytes(), ASSETS[name]
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a failing test shows what the page showed."""


@pytest.fixture
def dashboard_of(browser) -> Iterator[Callable[[dict[str, int]], tuple[list, str]]]:
    """Open the dashboard on a report from hand-made counters: what its alerts panel shows
    (each row's cells) and its lift line."""
    server = DashboardServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def show(counters: dict[str, int]) -> tuple[list, str]:
        kpis = report(counters, 1_790_000_000_000, Rules())
        tiers = {tier: scope["accounts"] for tier, scope in kpis["tiers"].items()}
        server.data = {
            "kpis": kpis,
            "tiers": tiers,
            "surging": [],
            "changes": [],
            "lag": {"error": None, "partitions": []},
            "unmatched": {"error": None, "domains": []},
        }
        browser.get(f"http://127.0.0.1:{server.server_port}/dashboard")
        loaded = "return document.body.dataset.loaded === 'true'"
        wait_until(lambda: browser.execute_script(loaded), 30, "the page", step=0.2)
        rows = browser.execute_script(
            "return [...document.querySelectorAll('#alerts-groups tbody tr')]"
            ".map(r => [...r.cells].map(c => c.textContent))"
        )
        return rows, browser.execute_script(LIFT)

    yield show
    server.shutdown()
    server.server_close()


def alerts(held_out: int) -> dict[str, int]:
    """Tier 1 alerts: 40 delivered, 8 followed by an opportunity, five answered (after
    12, 30, 45, 180 and 540 minutes); `held_out` held out, 2 followed by one."""
    counters = {
        "1|alerts_raised": 40 + held_out,
        "1|alerts_delivered": 40,
        "1|alerts_held_out": held_out,
        "1|alerts_responded_delivered": 5,
        "1|alerts_responded_held_out": 1,
        "1|alerts_opportunity_delivered": 8,
        "1|alerts_opportunity_held_out": 2,
        "1|alerts_pipeline_delivered": 400_000 * SCALE,
    }
    for minutes in (12, 30, 45, 180, 540):
        counters[f"1|alerts_response_s_delivered|{minutes * 60}"] = 1
    return counters


def test_the_alerts_panel_shows_the_lift_or_why_there_is_none(dashboard_of):
    rows, lift = dashboard_of(alerts(held_out=20))
    assert rows == [
        ["Delivered", "40", "5", "45.0 min", "20.0%"],
        ["Held out (told to no seller)", "20", "1", EMPTY, "10.0%"],
    ]
    assert lift == "Lift: 2.00x (95% interval 0.47x to 8.56x)"
    rows, lift = dashboard_of(alerts(held_out=9))
    assert rows[1] == ["Held out (told to no seller)", "9", "1", EMPTY, "22.2%"]
    assert lift == (
        "Lift: not enough data: 40 delivered and 9 held-out alerts (at least 10 of each)"
    )
    assert not re.search(r"\dx", lift)  # no ratio where the report gives none
    rows, lift = dashboard_of({})
    assert rows[0] == ["Delivered", "0", "0", EMPTY, EMPTY]
    assert lift == "Lift: no holdout: no alert here was held out ([rules.outcomes] holdout)"


def figures(lift: float) -> dict:
    """One rule set's figures on one period, as `abm tune` reports them."""
    tiers = {"tier_1": 40, "tier_2": 300, "tier_3": 500, "untiered": 160}
    return {
        "accounts_per_tier_peak": tiers,
        "accounts_per_tier_mean": tiers,
        "opportunity_rate_tier1": 0.3,
        "opportunity_rate_rest": 0.3 / lift,
        "lift": {"value": lift, "low": lift - 0.5, "high": lift + 0.5},
        "alerts": {
            "raised": 12,
            "followed": 4,
            "rate": 0.3333,
            "heard": 10,
            "owners": 2,
            "per_owner_week": 1.5,
            "max_per_owner_week": 3,
            "lift": {"value": lift / 2, "low": None, "high": None},
        },
        "constraints_met": {"all": True},
    }


def test_the_report_pages_load_in_a_browser(browser, tmp_path):
    """The backtest's and tune's HTML reports run their script (the shared part and their
    own) offline and show the data they embed, text from the data as text."""
    from streams.replay.report import write_report
    from streams.tune.report import write_html
    from tests.history import generate, write_jsonl

    (tmp_path / "history").mkdir()
    end = 1_767_225_600_000
    history = write_jsonl(tmp_path / "history", generate(3, accounts=20, days=30, end=end))
    backtest = tmp_path / "backtest.html"
    ran = CliRunner().invoke(
        cli,
        ["backtest", "--candidate", "examples/candidate.toml", "--input-dir", str(history),
         "--workers", "1", "--json"],
        env={"ABM_CONFIG_FILE": None},
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    write_report(json.loads(ran.output), backtest)
    tuned = {
        "objective": "alerts",
        "horizon_days": 30,
        "accounts": 1000,
        "periods": {"train": ["2025-01-01", "2025-10-01"], "test": ["2025-10-01", "2026-01-01"]},
        "outcomes": {"train": 300, "test": 100},
        "searched": 0,
        "surge_rules_replayed": 30,
        "train": {"current": figures(1.5), "tuned": figures(3.0)},
        "test": {"current": figures(1.4), "tuned": figures(2.8)},
        "verdict": {"says": "better than the current rules", "overfitting": 0.2},
        "changes": [{"key": "surge.alert_tiers", "was": [1], "now": ["<b>2</b>"], "evidence": "e"}],
    }
    page = tmp_path / "tune.html"
    write_html(tuned, page)
    loaded = "return document.body.dataset.loaded === 'true'"
    for path, table in ((backtest, "kpis"), (page, "changes")):
        browser.get(path.as_uri())
        wait_until(lambda: browser.execute_script(loaded), 30, f"{path.name}", step=0.2)
        rows = browser.execute_script(
            f"return [...document.querySelectorAll('#{table} tbody tr')].map(r => r.textContent)"
        )
        assert rows, path.name
    assert any("<b>2</b>" in row for row in rows)  # shown as text, not as markup
    title = browser.execute_script("return document.getElementById('chart-title').textContent")
    assert title.startswith("Alerts followed by an opportunity"), title
