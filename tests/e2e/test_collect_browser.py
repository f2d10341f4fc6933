"""analytics.js (@segment/analytics-next, its UMD build vendored in tests/e2e/assets) in
headless Chromium, sending to `abm collect` from a page on another origin: the
preflights, `text/plain` bodies and short routes (/v1/p, /v1/i, /v1/t) of a real
browser. Its settings are given inline (`cdnSettings`, and `window.analytics._cdn` on
loopback), so it never calls Segment's CDN; the page's own server checks that nothing
else was asked of it. A worker then places the calls on the visitor's account. Skips where
Chromium and its driver are missing, unless ABM_BROWSER_TEST=required (CI).
"""

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from streams.dev.settle import matching_settles
from streams.logic.identity.redact import contact_of
from tests.e2e.collect_tools import IDENTITY_KEY, SITE_KEY, Collector, running, start_collector
from tests.harness import ARTIFACTS, Worker, collect, launch, pipeline_settings, send, wait_until
from tests.tools import unavailable

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
BUNDLE = Path(__file__).parent / "assets" / "analytics-next.umd.js"
EMAIL = "jo.visitor@acme-example.com"
PAGE = """<!doctype html>
<html><head><title>Pricing</title>
<script>window.analytics = {_cdn: "http://127.0.0.1:%(page_port)d"};</script>
<script src="/analytics-next.js"></script>
<script>
window.sent = null;
window.problems = [];
const analytics = AnalyticsNext.AnalyticsBrowser.load(
  {
    writeKey: "%(key)s",
    cdnURL: "http://127.0.0.1:%(page_port)d",
    cdnSettings: {
      integrations: {"Segment.io": {apiKey: "%(key)s"}},
      plan: {},
      metrics: {sampleRate: 0},
    },
  },
  {integrations: {"Segment.io": {apiHost: "127.0.0.1:%(port)d/v1", protocol: "http"}}},
);
analytics.on("error", (e) => window.problems.push(String(e && (e.reason || e.code))));
(async () => {
  const page = await analytics.page();
  const who = await analytics.identify("u1", {email: "%(email)s", name: "Jo"});
  const form = await analytics.track("Form Submitted", {form: "demo", email: "%(email)s"});
  window.sent = [page, who, form].map((ctx) => ctx.failedDelivery() ? "failed" : "sent");
})().catch((e) => window.problems.push(String(e)));
</script></head><body>pricing</body></html>
"""


class PageServer(ThreadingHTTPServer):
    """The site: the page and the bundle, and a list of every path asked for."""

    def __init__(self) -> None:
        self.page = b""
        self.asked: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:
        self.server.asked.append(self.path)
        if self.path == "/":
            body, kind = self.server.page, "text/html"
        elif self.path == "/analytics-next.js":
            body, kind = BUNDLE.read_bytes(), "application/javascript"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ACCOUNT = {"account_id": "acme-x", "name": "Acme", "domain": "www.acme-example.com"}


@pytest.fixture(scope="module")
def worker(stack, request) -> Iterator[Worker]:
    """A worker the collector's calls reach, with an account for the visitor's domain."""
    settings, env = pipeline_settings(stack, clock="event", identity_key=IDENTITY_KEY)
    running_worker = launch(settings, env, request.module.__name__)
    send(settings, settings.topics.accounts, ACCOUNT)
    matching_settles(settings, timeout_s=60)  # the directory has the account's domain
    yield running_worker
    assert running_worker.stop() == 0, running_worker.log.read_text()[-3000:]


@pytest.fixture(scope="module")
def collector(stack, worker) -> Iterator[Collector]:
    yield from running(start_collector(stack, "collect-browser", (worker.settings, worker.env)))


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and DRIVER):
        unavailable("chromium and chromium-driver are not installed", "ABM_BROWSER_TEST")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_analytics_js_in_a_browser_sends_to_the_collector_redacted(collector, browser):
    site = PageServer()
    site.page = (
        PAGE
        % {
            "key": SITE_KEY,
            "port": collector.port,
            "page_port": site.server_address[1],
            "email": EMAIL,
        }
    ).encode()
    serving = threading.Thread(target=site.serve_forever, daemon=True)
    serving.start()
    try:
        browser.get(f"http://127.0.0.1:{site.server_address[1]}/")

        def finished() -> object:
            problems = browser.execute_script("return window.problems")
            assert problems == [], problems
            return browser.execute_script("return window.sent")

        assert wait_until(finished, 60, "analytics.js to send its calls") == ["sent"] * 3
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "collect-browser.png"))
        site.shutdown()
        site.server_close()
    assert set(site.asked) <= {"/", "/analytics-next.js", "/favicon.ico"}, site.asked

    records = collector.wait_for(3)
    by_type = {value["type"]: (key, value) for key, value in records}
    assert set(by_type) == {"page", "identify", "track"}
    anonymous = by_type["page"][1]["anonymousId"]
    assert by_type["page"][0] == anonymous.encode()  # before identify: the anonymous id
    assert by_type["identify"][0] == b"u1"
    assert by_type["track"][0] == b"u1"
    traits = by_type["identify"][1]["traits"]
    assert traits["email_contact"] == contact_of(EMAIL, IDENTITY_KEY.encode())
    assert traits["email_domain"] == "acme-example.com"
    track = by_type["track"][1]
    assert track["event"] == "Form Submitted"
    assert track["context"]["library"]["name"] == "analytics.js"
    assert track["context"]["page"]["url"].startswith("http://127.0.0.1:")
    assert "writeKey" not in track
    assert collector.addresses_written() == []
    assert EMAIL not in orjson.dumps([v for _, v in records]).decode()

    # ... and the worker places them on the account: the anonymous page view once the
    # visitor identified, the form by their work address's domain, as one person.
    settings = collector.settings
    landed = collect(settings, settings.topics.engagement, lambda seen: len(seen) >= 2)
    assert sorted(e["action"] for e in landed) == ["form_submit", "page_view"]
    assert {(e["account_id"], e["match_method"]) for e in landed} == {("acme-x", "domain")}
    assert {e["contact_id"] for e in landed} == {contact_of(EMAIL, IDENTITY_KEY.encode())}
