"""The dashboard in a real browser: headless Chromium shows what `abm kpis --json` says.

A worker loads a generated history; once its KPIs have settled, Chromium opens the page
the worker serves and the test reads back every tile and the data behind every chart,
comparing them with the CLI's report. A screenshot is kept in test-artifacts/. The test
skips only where Chromium and its driver are not installed (.ci/run installs them).
"""

import json
import math
import shutil
import time

import pytest
from click.testing import CliRunner

from streams.cli import cli
from tests.harness import ARTIFACTS, launch, pipeline_settings, read_kpis, send_rows, wait_until
from tests.history import DAY, generate

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
EMPTY = "\u2013"
"""What a tile shows for a null KPI (an en dash)."""
ROWS = generate(3, accounts=80, days=60, end=int(time.time() * 1000) - DAY)


def same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9)
    return a == b


def pick(report: dict, path: str) -> object:
    for key in path.split("."):
        report = report[key]
    return report


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def settled_report(settings) -> dict:
    """The KPIs once two readings a second apart agree (the view flushes on a timer)."""
    previous = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        report = read_kpis(settings)
        if report == previous and report["overall"]["accounts"] == 80:
            return report
        previous = report
        time.sleep(1)
    raise AssertionError("the KPIs did not settle")


def test_the_dashboard_shows_the_cli_figures(stack, browser):
    settings, env = pipeline_settings(stack, clock="event", tick_interval_s=3600)
    worker = launch(settings, env, "dashboard")
    try:
        send_rows(settings, ROWS)
        settled_report(settings)
        result = CliRunner().invoke(cli, ["kpis", "--json"], env=env, catch_exceptions=False)
        report = json.loads(result.output)

        browser.get(f"http://127.0.0.1:{settings.web_port}/dashboard")

        def page_as_of():
            loaded = browser.execute_script("return document.body.dataset.loaded === 'true'")
            as_of = browser.execute_script(
                "return document.getElementById('as-of').dataset.value || null"
            )
            return loaded and as_of == report["as_of"]

        wait_until(page_as_of, 30, "the page showing the settled report", step=0.5)
        tiles = browser.execute_script(
            "return [...document.querySelectorAll('.tile')]"
            ".map(t => [t.dataset.kpi, t.dataset.value, t.querySelector('p').textContent])"
        )
        assert len(tiles) == 12
        for path, value, text in tiles:
            want = pick(report, path)
            assert same(json.loads(value), want), (path, value, want)
            assert text != EMPTY or want is None, (path, text)

        def chart(canvas: str) -> dict:
            return browser.execute_script(
                "const c = Chart.getChart(arguments[0]);"
                "return {labels: c.data.labels, data: c.data.datasets.map(d => d.data)};",
                canvas,
            )

        days = list(report["daily"])
        assert len(days) > 30
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

        rows = browser.execute_script(
            "return ['surging', 'changes', 'lag'].map(id => "
            "document.querySelectorAll('#' + id + ' tbody tr').length)"
        )
        assert min(rows) > 0, f"surging, changes, lag rows: {rows}"
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    finally:
        assert worker.stop() == 0
