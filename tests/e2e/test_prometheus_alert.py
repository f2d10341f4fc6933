"""A real Prometheus pages on a stopped worker: AbmConsumerLagNotDraining fires in its own
HTTP API (/api/v1/alerts) once input waits and nobody works it off.

Everything is real except the time scale: a worker on the embedded stack, the lag exporter
(`abm lag --serve`) reading the broker, and Prometheus (Debian's 2.42 binary) scraping both
every second and evaluating deploy/prometheus/alerts.yml with the rules' own expressions.
Only the rules' time windows are shrunk, by SCALE: every `for:` and every range selector
(`for: 5m` and `[5m]` become 10 s, `for: 2m` 4 s), so the test takes about a minute
instead of ten. The scrape config is written here, with the job names of
deploy/prometheus/prometheus.yml (the rules select on them) and static loopback targets
instead of Docker's DNS.

The rules' unit tests (promtool, synthetic series) are unit/test_prometheus_rules.py; this
one shows that the series the exporter and the worker really serve make them fire, and
that healthy traffic does not. Where Prometheus is not installed the test skips, except
with ABM_PROMETHEUS_TEST=required (CI), where a skip would hide a broken alert.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streams.dev.embedded import free_port
from streams.dev.supervise import scrape
from tests.harness import launch, metric_sum, pipeline_settings, read_metrics, send_rows, wait_until
from tests.tools import unavailable

DEPLOY = Path(__file__).parents[2] / "deploy" / "prometheus"
ALERT = "AbmConsumerLagNotDraining"
SCALE = 30
"""Rule windows are divided by this: 5m -> 10s, 2m -> 4s, 15m -> 30s, 1m -> 2s."""
NOW = int(time.time() * 1000)
UNIT_S = {"s": 1, "m": 60, "h": 3600}


@pytest.fixture(scope="module")
def binaries() -> tuple[str, str]:
    """(prometheus, promtool); skip (or fail, when required) where they are missing."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not (prometheus and promtool):
        unavailable(
            "prometheus is not installed (Debian: apt-get install prometheus)",
            "ABM_PROMETHEUS_TEST",
        )
    return prometheus, promtool


# --- the rules, on a shorter clock ----------------------------------------------------------

# A duration as the rules write them: a whole number of s, m or h. `for:` values and range
# selectors (`[5m]`) are scaled. Thresholds compared with seconds (`> 300`, `> 900`) are
# not: they are about timestamps and event times, and stay silent here either way. The
# annotations keep their wording ("for 5 minutes"): they are text, not windows.
FOR = re.compile(r"^(?P<lead>\s*for:\s*)(?P<n>\d+)(?P<unit>[smh])\s*$", re.M)
RANGE = re.compile(r"\[(?P<n>\d+)(?P<unit>[smh])\]")


def _scaled(match: re.Match) -> str:
    seconds = int(match["n"]) * UNIT_S[match["unit"]]
    assert seconds % SCALE == 0, f"{match[0]!r} does not scale by {SCALE} to whole seconds"
    return f"{seconds // SCALE}s"


def scale_rules(text: str) -> str:
    """alerts.yml with every `for:` and range selector divided by SCALE, nothing else."""
    text = FOR.sub(lambda m: m["lead"] + _scaled(m), text)
    return RANGE.sub(lambda m: f"[{_scaled(m)}]", text)


def alert_block(text: str, name: str) -> str:
    """The rule `name` of a rules file, from its `- alert:` to the next, without comments."""
    found = re.search(rf"^\s*- alert:\s*{name}\s*$.*?(?=^\s*- alert:|\Z)", text, re.M | re.S)
    assert found, f"no rule {name} in the rules file"
    return "".join(line for line in found[0].splitlines(True) if not line.lstrip().startswith("#"))


def windows_s(block: str) -> tuple[int, list[int]]:
    """(`for`, every range selector) of one scaled rule, in seconds."""
    durations = re.findall(r"^\s*for:\s*(\S+)\s*$", block, re.M)
    ranges = re.findall(r"\[([^\]]+)\]", block)
    for value in [*durations, *ranges]:  # anything but whole seconds went unscaled
        assert re.fullmatch(r"\d+s", value), f"unscaled duration {value!r} in:\n{block}"
    (for_s,) = durations
    return int(for_s[:-1]), [int(r[:-1]) for r in ranges]


def prometheus_config(worker_port: int, exporter_port: int) -> str:
    """The deployed config's jobs and rule file, every second, on loopback targets."""
    deployed = (DEPLOY / "prometheus.yml").read_text()
    assert re.search(r"^rule_files:\s*\n\s*- alerts\.yml\b", deployed, re.M), "rule_files moved"
    jobs = re.findall(r"^\s*- job_name:\s*(\S+)\s*$", deployed, re.M)
    assert jobs == ["abm-worker", "abm-lag", "abm-view", "abm-collect"], f"jobs changed: {jobs}"
    # No view process or collector runs here, and no alert rule reads their metrics: their
    # jobs are left out.
    targets = {"abm-worker": worker_port, "abm-lag": exporter_port}
    scrape_configs = "".join(
        f"  - job_name: {job}\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f'      - targets: ["127.0.0.1:{port}"]\n'
        for job, port in targets.items()
    )
    return (
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "rule_files:\n"
        "  - alerts.yml\n"
        f"scrape_configs:\n{scrape_configs}"
    )


# --- the processes ----------------------------------------------------------------------------


@dataclass
class Child:
    """A subprocess with its output in a log file, shown when it dies."""

    name: str
    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, name: str, command: list[str], log: Path, **kw) -> "Child":
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **kw
            )
        return cls(name, proc, log)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Prometheus(Child):
    port: int = 0

    def api(self, path: str, **params: str) -> dict:
        self.check()
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}{query}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self, name: str) -> list[dict]:
        """The active (pending or firing) alerts named `name`."""
        return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name]

    def firing(self, name: str) -> list[dict]:
        return [a["labels"] for a in self.alerts(name) if a["state"] == "firing"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def ready(self) -> bool:
        self.check()
        try:
            url = f"http://127.0.0.1:{self.port}/-/ready"
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200
        except OSError:
            return False


def start_prometheus(binary: str, config_dir: Path, port: int) -> Prometheus:
    command = [
        binary,
        f"--config.file={config_dir / 'prometheus.yml'}",
        f"--storage.tsdb.path={config_dir / 'tsdb'}",
        "--storage.tsdb.retention.time=1h",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    child = Child.start("prometheus", command, config_dir / "prometheus.log", cwd=config_dir)
    return Prometheus(child.name, child.proc, child.log, port)


def start_exporter(env: dict[str, str], group: str, port: int, log: Path) -> Child:
    serve = ["--serve", str(port), "--host", "127.0.0.1", "--every", "1", "--group", group]
    command = [sys.executable, "-m", "streams", "lag", *serve]
    return Child.start("the lag exporter", command, log, env={**os.environ, **env})


# --- the events -------------------------------------------------------------------------------


def accounts(names: list[str]) -> list[tuple[str, dict]]:
    return [
        ("accounts", {"account_id": a, "name": a, "fit_score": 60, "expected_acv": 50_000})
        for a in names
    ]


def engagement(names: list[str], batch: str, each: int) -> list[tuple[str, dict]]:
    return [
        (
            "engagement",
            {
                "event_id": f"{batch}-{account}-{k}",
                "account_id": account,
                "contact_id": f"c{k % 3}",
                "channel": "web",
                "action": "page_view",
                "occurred_at": NOW - 60_000 * (each - k),
            },
        )
        for account in names
        for k in range(each)
    ]


def partition_of(account: str, partitions: int) -> str:
    """The partition the producer (aiokafka's default partitioner) puts an account on."""
    everything = list(range(partitions))
    return str(DefaultPartitioner()(account.encode(), everything, everything))


# --- the test ---------------------------------------------------------------------------------


def test_a_stopped_worker_with_input_waiting_fires_the_lag_alert(binaries, stack, tmp_path):
    prometheus_bin, promtool = binaries
    settings, env = pipeline_settings(stack, clock="event")
    group, topic = settings.app_id, settings.topics.engagement

    # The rules, scaled, failing loudly if the alert this test is about did not scale.
    original = (DEPLOY / "alerts.yml").read_text()
    rules = scale_rules(original)
    block = alert_block(rules, ALERT)
    assert block != alert_block(original, ALERT), f"the scaling did not touch {ALERT}"
    for_s, ranges_s = windows_s(block)
    assert for_s == 300 // SCALE, f"{ALERT} changed shape:\n{block}"
    assert ranges_s == [300 // SCALE], f"{ALERT} changed shape:\n{block}"
    window_s = max(ranges_s)
    (tmp_path / "alerts.yml").write_text(rules)
    exporter_port, prometheus_port = free_port(), free_port()
    (tmp_path / "prometheus.yml").write_text(prometheus_config(settings.web_port, exporter_port))
    for check in (["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"]):
        done = subprocess.run(
            [promtool, *check], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"promtool {' '.join(check)}:\n{done.stdout}{done.stderr}"

    names = [f"p-{n}" for n in range(8)]
    sent = [*accounts(names), *engagement(names, "first", 3)]
    worker = launch(settings, env, "prometheus-alert")
    children: list[Child] = []
    try:
        # A first batch processed and committed: the group has offsets on its partitions.
        send_rows(settings, sent)

        def processed_everything():
            metrics = read_metrics(settings)
            done = metric_sum(metrics, "abm_events_total") == len(sent)
            return done and metric_sum(metrics, "abm_consumer_lag") == 0

        wait_until(processed_everything, 60, "the first batch processed")

        exporter = start_exporter(env, group, exporter_port, tmp_path / "exporter.log")
        children.append(exporter)
        prometheus = start_prometheus(prometheus_bin, tmp_path, prometheus_port)
        children.append(prometheus)

        def exporter_reads_no_lag():
            exporter.check()
            try:
                m = scrape(exporter_port)
            except OSError:  # not serving yet
                return False
            lags = [
                v for (n, ls), v in m.items() if n == "abm_group_lag" and ("topic", topic) in ls
            ]
            return m.get(("abm_lag_exporter_up", ())) == 1 and lags and not any(lags)

        wait_until(exporter_reads_no_lag, 30, "the exporter reading the group")

        def prometheus_sees_both():
            if not prometheus.ready():
                return False
            up = {r["metric"]["job"]: r["value"][1] for r in prometheus.query("up")}
            committed = prometheus.query(f'abm_group_committed_offset{{topic="{topic}"}}')
            # Prometheus evaluates rules at once but scrapes only after its discovery
            # manager's first update (5 s, fixed): until then `absent(up{...})` holds, and
            # on the scaled clock AbmWorkerDown (4 s) fires at start-up. It resolves at
            # the first evaluation after the first scrape: wait for that.
            down = prometheus.alerts("AbmWorkerDown") + prometheus.alerts("AbmLagExporterDown")
            return up == {"abm-worker": "1", "abm-lag": "1"} and not down and committed

        committed = wait_until(prometheus_sees_both, 60, "Prometheus scraping both targets")
        committed_on = {r["metric"]["partition"] for r in committed}
        assert {partition_of(a, settings.partitions) for a in names} <= committed_on

        # Healthy, with traffic: for the alert's `for` plus its window, fresh input keeps
        # arriving and is worked off, and the alert never fires. It may go pending at the
        # first batch (lag > 0 after a quiet window with no commit in it, until the worker's
        # next commit, 2.8 s at most), as it would in production; after a whole window of
        # traffic the commits are in it and the alert is not even pending.
        healthy_until = time.monotonic() + for_s + window_s
        while time.monotonic() < healthy_until:
            batch = engagement(names[:3], f"healthy{len(sent)}", 2)
            send_rows(settings, batch)
            sent += batch
            states = {a["state"] for a in prometheus.alerts(ALERT)}
            assert "firing" not in states, f"{ALERT} fired while the worker ran"
            for name in ("AbmWorkerDown", "AbmLagExporterDown"):
                assert prometheus.alerts(name) == [], f"{name} while both run"
            time.sleep(1)
        assert prometheus.alerts(ALERT) == [], f"{ALERT} active after a window of traffic"

        # The worker works everything off and stops cleanly, committing what it did; then
        # input arrives for nobody, on some partitions and not on others.
        wait_until(processed_everything, 30, "the healthy traffic processed")
        assert worker.stop() == 0, worker.log.read_text()[-3000:]
        stopped = time.monotonic()
        late = engagement(names[2:7], "late", 4)
        send_rows(settings, late)
        waiting: dict[str, int] = {}  # partition -> records waiting on it
        for _, event in late:
            at = partition_of(event["account_id"], settings.partitions)
            waiting[at] = waiting.get(at, 0) + 1
        assert 0 < len(waiting) < settings.partitions
        expected = {(group, topic, p) for p in waiting}

        # Firing on every partition that got input and on no other, within the scaled rule:
        # its window (or the exporter's STALL, after 6 s) plus `for`, plus slack.
        seen: list[dict] = []

        def fired():
            seen[:] = prometheus.alerts(ALERT)
            firing = {
                (a["labels"]["group"], a["labels"]["topic"], a["labels"]["partition"])
                for a in seen
                if a["state"] == "firing"
            }
            return firing == expected

        try:
            wait_until(fired, for_s + window_s + 45, f"{ALERT} firing on {expected}", step=0.5)
        except AssertionError as timeout:
            series = prometheus.query("abm_group_lag > 0 or abm_group_partition_status == 1")
            raise AssertionError(
                f"{timeout}\nactive: {json.dumps(seen, indent=1)}\n"
                f"series: {json.dumps(series, indent=1)}"
            ) from None
        took = time.monotonic() - stopped
        assert took >= for_s, f"{ALERT} fired {took:.1f}s after the stop, before its `for`"
        for alert in seen:
            assert alert["labels"]["severity"] == "page"
            # the value is the left side of the rule's `and`: the records waiting
            assert float(alert["value"]) == waiting[alert["labels"]["partition"]], alert
            assert f"Runbook: docs/alerts.md, {ALERT}" in alert["annotations"]["description"]

        # The same stop seen from two other sides: the worker's target is gone (that fires
        # first, after 4 s), and no live member owns the partitions with input waiting.
        def down_and_unowned():
            unowned = {
                (a["group"], a["topic"], a["partition"])
                for a in prometheus.firing("AbmPartitionUnowned")
            }
            return unowned == expected and prometheus.firing("AbmWorkerDown")

        (down,) = wait_until(down_and_unowned, 30, "AbmWorkerDown and AbmPartitionUnowned")
        assert down["instance"] == f"127.0.0.1:{settings.web_port}"
        print(f"{ALERT} fired {took:.1f}s after the worker stopped")
    except AssertionError as failed:
        for child in children:
            failed.add_note(f"--- {child.name} ({child.log}) ---\n{child.tail()}")
        failed.add_note(f"--- the worker ({worker.log}) ---\n{worker.log.read_text()[-3000:]}")
        raise
    finally:
        worker.stop()
        for child in reversed(children):
            child.stop()
