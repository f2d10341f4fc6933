"""The buying committee end to end: rosters on `abm.contacts.v1` through the real worker.

A roster landing after its contacts engaged re-tiers the account with no event sent again;
a tombstone clears it; a bad roster is dead-lettered with its reason; the committee KPI
reaches Redis; an alert names the engaged contacts by persona and title.
"""

import asyncio
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streams.clients.produce_tail import Keyed, produce
from tests.harness import (
    ARTIFACTS,
    collect,
    launch,
    pipeline_settings,
    read_all,
    read_kpis,
    send,
    wait_until,
)

DAY = 86_400_000
T = (int(time.time() * 1000) // DAY - 40) * DAY + 9 * 3_600_000
RULES = """
[[rules.tiers]]
tier = 1
name = "committee"
require_personas = ["decision_maker"]

[[rules.tiers]]
tier = 2
name = "two-personas"
min_personas = 2

[[rules.tiers]]
tier = 3
name = "fit"
"""


@pytest.fixture(scope="module")
def worker(stack, request):
    ARTIFACTS.mkdir(exist_ok=True)
    rules = Path(ARTIFACTS / "committee.toml")
    rules.write_text(RULES)
    settings, env = pipeline_settings(stack, clock="event", config_file=rules)
    running = launch(settings, env, request.module.__name__)
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]


def profile(account: str) -> dict:
    return {"account_id": account, "name": account.title(), "fit_score": 85, "owner": "alice"}


def touch(account: str, contact: str, n: int, at: int, action: str = "email_click") -> dict:
    return {
        "event_id": f"{account}-{contact}-{n}",
        "account_id": account,
        "contact_id": contact,
        "channel": "email",
        "action": action,
        "occurred_at": at,
    }


def roster(account: str, *people: tuple[str, str]) -> dict:
    return {
        "account_id": account,
        "contacts": [{"contact_id": c, "title": title} for c, title in people],
        "updated_at": T,
    }


def changes_of(s, account: str) -> list[tuple[int, int, str, dict]]:
    return [
        (c["previous_tier"], c["tier"], c["rule"], c["inputs"]["personas"])
        for c in read_all(s, s.topics.tier_changes)
        if c["account_id"] == account
    ]


def test_a_late_roster_retiers_and_a_tombstone_clears_it(worker):
    s = worker.settings
    send(s, s.topics.accounts, profile("acct-late"))
    send(s, s.topics.engagement, touch("acct-late", "c-cmo", 0, T))
    wait_until(lambda: changes_of(s, "acct-late"), 30, "acct-late at tier 3")

    send(s, s.topics.contacts, roster("acct-late", ("c-cmo", "Chief Marketing Officer")))
    promoted = (3, 1, "committee", {"decision_maker": 1})
    wait_until(lambda: promoted in changes_of(s, "acct-late"), 30, "the roster's re-tiering")
    kpis = wait_until(
        lambda: (k := read_kpis(s))["tiers"]["1"]["decision_maker_coverage_30d"] == 1.0 and k,
        30,
        "the committee's coverage in Redis",
    )
    assert kpis["tiers"]["1"]["accounts_engaged_by_persona_30d"]["decision_maker"] == 1

    asyncio.run(produce(s, s.topics.contacts, [Keyed(b"acct-late", None)]))  # type: ignore[arg-type]
    cleared = (1, 3, "fit", {"unknown": 1})
    wait_until(lambda: cleared in changes_of(s, "acct-late"), 30, "the tombstone's re-tiering")
    assert [c[:2] for c in changes_of(s, "acct-late")] == [(0, 3), (3, 1), (1, 3)]


def test_bad_rosters_are_dead_lettered_with_their_reason(worker):
    s = worker.settings
    send(s, s.topics.contacts, roster("acct-x", ("c1", "VP")), key="acct-y")
    send(s, s.topics.contacts, roster("acct-z", *[(f"c{n}", "Analyst") for n in range(501)]))
    send(s, s.topics.contacts, roster("acct-w", ("c1", "x" * 201)))
    letters = wait_until(
        lambda: len(d := read_all(s, s.topics.dead_letter)) >= 3 and d, 30, "three dead letters"
    )
    by_key = {d["key"]: (d["reason"], d["error"]) for d in letters}
    assert by_key["acct-y"][0] == "key_mismatch"
    assert by_key["acct-z"][0] == "invalid_payload"
    assert "at most 500" in by_key["acct-z"][1]
    assert by_key["acct-w"][0] == "invalid_payload"
    assert "title" in by_key["acct-w"][1]


def test_an_alert_names_the_committee_by_persona(worker):
    s = worker.settings
    account = "acct-surge"
    send(s, s.topics.accounts, profile(account))
    send(
        s,
        s.topics.contacts,
        roster(account, ("c-an", "Data Analyst"), ("c-vp", "VP Sales"), ("c-dir", "Director")),
    )
    quiet = [touch(account, "c-an", w, T + w * 7 * DAY, "page_view") for w in range(4)]
    surge_at = T + 28 * DAY
    # the second meeting makes the surge: the alert names those two, most senior first
    loud = [touch(account, c, 9, surge_at, "meeting") for c in ("c-dir", "c-vp", "c-an")]
    send(s, s.topics.engagement, *quiet, *loud)
    seen = collect(
        s, s.topics.surge_alerts, lambda seen: any(a["account_id"] == account for a in seen)
    )
    alert = next(a for a in seen if a["account_id"] == account)
    assert [(m["persona"], m["title"]) for m in alert["committee"]][:2] == [
        ("decision_maker", "VP Sales"),
        ("champion", "Director"),
    ]


def test_the_web_port_serves_no_table_and_answers_no_foreign_host(worker):
    """faust's own pages would serve the rosters table whole (contact ids, titles), and a
    page on another site could read the dashboard through DNS rebinding."""
    s = worker.settings
    send(s, s.topics.contacts, roster("acct-web", ("c-1", "Chief Data Officer")))
    base = f"http://127.0.0.1:{s.web_port}"
    for path in ("/table/rosters/acct-web/", "/table/", "/router/", "/graph/", "/stats/"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + path, timeout=5)
        assert refused.value.code == 404, path
    rebound = urllib.request.Request(f"{base}/dashboard/data", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=5)
    assert refused.value.code == 421
    with urllib.request.urlopen(f"{base}/health", timeout=5) as ok:
        assert ok.status == 200
