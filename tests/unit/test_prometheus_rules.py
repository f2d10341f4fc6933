"""deploy/prometheus/: the scrape config and the alert rules are valid, and every alert
passes its promtool unit tests (alerts_test.yml), which show it firing when it should and
silent in a healthy case close to it.

promtool comes with Prometheus (Debian's `prometheus` package). Where it is not installed
these tests skip, except with ABM_PROMETHEUS_TEST=required (.ci/run sets it), where a
skip would hide a broken rule. The check that every alert has its tests reads the files
with regular expressions (no YAML library in the project's dependencies) and needs no
promtool.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tools import unavailable

DIR = Path(__file__).parents[2] / "deploy" / "prometheus"
SEVERITIES = {"page", "ticket"}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        unavailable(
            "promtool is not installed (Debian: apt-get install prometheus)", "ABM_PROMETHEUS_TEST"
        )
    return found


def run_promtool(promtool: str, *args: str) -> None:
    done = subprocess.run(
        [promtool, *args], cwd=DIR, capture_output=True, text=True, timeout=120, check=False
    )
    output = f"$ promtool {' '.join(args)}\n{done.stdout}{done.stderr}"
    assert done.returncode == 0, output


def test_the_scrape_config_is_valid(promtool):
    run_promtool(promtool, "check", "config", "prometheus.yml")


def test_the_alert_rules_are_valid(promtool):
    run_promtool(promtool, "check", "rules", "alerts.yml")


def test_the_alert_rules_pass_their_unit_tests(promtool):
    run_promtool(promtool, "test", "rules", "alerts_test.yml")


def alert_blocks(text: str) -> dict[str, list[str]]:
    """Alert name -> the text of each rule by that name in a rules file."""
    blocks: dict[str, list[str]] = {}
    starts = list(re.finditer(r"^\s*- alert:\s*(\S+)\s*$", text, re.M))
    for start, end in zip(starts, [*starts[1:], None], strict=True):
        body = text[start.start() : end.start() if end else len(text)]
        blocks.setdefault(start.group(1), []).append(body)
    return blocks


def rule_test_cases(text: str) -> list[tuple[str, bool]]:
    """(alertname, expected to fire) for each alert_rule_test case of a promtool test file.

    A case is a list item starting with `- eval_time:` and runs until the next line
    indented as little as that item; it expects alerts when its `exp_alerts:` opens a
    block list, none with `exp_alerts: []` or no `exp_alerts` at all."""
    lines = text.splitlines()
    cases = []
    for at, line in enumerate(lines):
        if not (item := re.match(r"(\s*)- eval_time:", line)):
            continue
        indent, body = len(item.group(1)), [line]
        for following in lines[at + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        case = "\n".join(body)
        name = re.search(r"^\s*(?:- )?alertname:\s*(\S+)\s*$", case, re.M)
        assert name, f"an alert_rule_test case without an alertname:\n{case}"
        firing = re.search(r"^\s*exp_alerts:\s*$", case, re.M) is not None
        cases.append((name.group(1), firing))
    return cases


def test_every_alert_has_tests_that_fire_it_and_keep_it_silent():
    rules = alert_blocks((DIR / "alerts.yml").read_text())
    tests = (DIR / "alerts_test.yml").read_text()
    cases = rule_test_cases(tests)
    # every case written as rule_test_cases reads them, so none goes unseen
    assert len(cases) == len(re.findall(r"^\s*(?:- )?alertname:", tests, re.M)) > 0
    assert rules, "no alert found in alerts.yml"
    tested = {name for name, _ in cases}
    # promtool passes a case about an alert that does not exist when it expects silence
    assert tested <= set(rules), f"tests of unknown alerts: {sorted(tested - set(rules))}"
    fired = {name for name, firing in cases if firing}
    silent = {name for name, firing in cases if not firing}
    assert set(rules) - fired == set(), "alerts no test shows firing"
    assert set(rules) - silent == set(), "alerts no test shows silent"


def test_every_alert_says_how_urgent_it_is_and_what_to_do():
    rules = alert_blocks((DIR / "alerts.yml").read_text())
    for name, bodies in rules.items():
        for body in bodies:
            severity = re.search(r"^\s*severity:\s*(\S+)\s*$", body, re.M)
            assert severity, f"{name}: no severity label"
            assert severity.group(1) in SEVERITIES, f"{name}: severity {severity.group(1)}"
            for annotation in ("summary", "description"):
                assert re.search(rf"^\s*{annotation}:", body, re.M), f"{name}: {annotation}"
