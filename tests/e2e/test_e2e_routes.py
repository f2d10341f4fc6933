"""Routing end to end: `[[routes]]` in the rules file, a real HTTP receiver per route.

Two sales routes by owner (one `json`, one `slack` that also hears of tier-ups) and a
route to a dead address: each route gets exactly what it matches, signed with its own
key; the dead one is retried, dead-lettered with its name, and holds up nobody.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import urlopen

import orjson
import pytest

from schemas.outputs import SurgeAlert, TierChange
from streams.dev.embedded import free_port
from streams.sinks.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.harness import ARTIFACTS, launch, pipeline_settings, read_all, send, wait_until

DAY = 86_400_000
T = (int(time.time() * 1000) // DAY - 60) * DAY + 9 * 3_600_000
KEYS = {name: f"{name}-route-key-of-at-least-32-bytes" for name in ("alice", "bob", "dead")}


@dataclass
class Route:
    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict]:
        return [orjson.loads(body) for _, body in list(self.posts)]


@pytest.fixture(scope="module")
def receivers() -> Iterator[dict[str, Route]]:
    servers, routes = [], {}
    for name in ("alice", "bob"):
        posts: list[tuple[dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            store = posts

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.store.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        routes[name] = Route(f"http://127.0.0.1:{server.server_port}/hook", posts)
    routes["dead"] = Route(f"http://127.0.0.1:{free_port()}/nobody-listens")
    yield routes
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="module")
def worker(stack, receivers, request):
    ARTIFACTS.mkdir(exist_ok=True)
    rules = Path(ARTIFACTS / "routes.toml")
    rules.write_text(f"""
[[routes]]
name = "alice"
owners = ["alice"]
kinds = ["intent", "engagement"]
url = "{receivers["alice"].url}"
format = "json"
secret_env = "ABM_ROUTE_ALICE_KEY"

[[routes]]
name = "bob"
owners = ["bob"]
tiers = [1, 2, 3]
url = "{receivers["bob"].url}"
format = "slack"
secret_env = "ABM_ROUTE_BOB_KEY"

[[routes]]
name = "dead"
kinds = ["intent"]
url = "{receivers["dead"].url}"
secret_env = "ABM_ROUTE_DEAD_KEY"
""")
    settings, env = pipeline_settings(
        stack,
        clock="event",
        config_file=rules,
        webhook__max_attempts=2,
        webhook__backoff_s=0.2,
        webhook__max_age_s=365 * 86_400,  # the scripted history is weeks old
    )
    env |= {f"ABM_ROUTE_{n.upper()}_KEY": key for n, key in KEYS.items()}
    running = launch(settings, env, request.module.__name__)
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]


def profile(account: str, owner: str) -> dict:
    return {
        "account_id": account,
        "name": account.title(),
        "fit_score": 85,
        "expected_acv": 80_000,
        "owner": owner,
    }


def intent(account: str, n: int) -> dict:
    return {
        "event_id": f"{account}-i{n}",
        "account_id": account,
        "provider": "g2",
        "topic": "crm software",
        "score": 90,
        "occurred_at": T + n * DAY,
    }


def signed_by(route: str, headers: dict[str, str], body: bytes) -> bool:
    key = KEYS[route].encode()
    return verify(key, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])


def test_each_route_hears_what_it_matches_signed_with_its_own_key(worker, receivers):
    s = worker.settings
    send(s, s.topics.accounts, profile("acct-alice", "alice"), profile("acct-bob", "bob"))
    send(s, s.topics.intent, intent("acct-alice", 0), intent("acct-bob", 0))

    alice = wait_until(lambda: receivers["alice"].bodies(), 20, "alice's alert")
    # bob's account: tier 3 on its profile (fit alone), tier 2 with intent, and the alert
    bob = wait_until(
        lambda: (b := receivers["bob"].bodies()) and len(b) >= 3 and b, 20, "bob's three posts"
    )
    # alice: her account's alert, the contract itself (json), and no tier changes
    assert [SurgeAlert.model_validate(b).account_id for b in alice] == ["acct-alice"]
    # bob: his account only, as Slack messages: the alert and both tier-ups
    alerts = [SurgeAlert.model_validate(b["alert"]) for b in bob if "alert" in b]
    changes = [TierChange.model_validate(b["change"]) for b in bob if "change" in b]
    assert [a.account_id for a in alerts] == ["acct-bob"]
    assert sorted((c.account_id, c.previous_tier, c.tier) for c in changes) == [
        ("acct-bob", 0, 3),
        ("acct-bob", 3, 2),
    ]
    assert all(b["text"] for b in bob)
    for name in ("alice", "bob"):
        for headers, body in receivers[name].posts:
            assert headers["X-ABM-Route"] == name
            assert signed_by(name, headers, body)
            assert not signed_by("dead", headers, body)


def test_a_dead_route_is_dead_lettered_by_name_and_holds_up_no_other(worker, receivers):
    s = worker.settings
    send(s, s.topics.accounts, profile("acct-carol", "alice"))
    send(s, s.topics.intent, intent("acct-carol", 3))
    # alice's route delivers while the dead route still retries its copy
    wait_until(
        lambda: [b for b in receivers["alice"].bodies() if b["account_id"] == "acct-carol"],
        20,
        "carol's alert at alice's route",
    )
    letters = wait_until(
        lambda: [d for d in read_all(s, s.topics.dead_letter) if d["key"] == "acct-carol"],
        60,
        "carol's alert dead-lettered by the dead route",
    )
    (letter,) = letters
    assert (letter["route"], letter["reason"]) == ("dead", "webhook_failed")
    assert orjson.loads(letter["value"])["account_id"] == "acct-carol"
    metrics = urlopen(f"http://127.0.0.1:{s.web_port}/metrics", timeout=5).read().decode()
    assert 'abm_route_deliveries_total{outcome="failed",route="dead"}' in metrics
    sent = [
        line
        for line in metrics.splitlines()
        if line.startswith('abm_route_deliveries_total{outcome="sent",route="alice"}')
    ]
    assert sent
    assert float(sent[0].split()[-1]) >= 2
    assert 'abm_route_queue_depth{route="bob"}' in metrics


def test_an_alert_raised_before_its_owner_was_known_reaches_the_owner_once_known(worker, receivers):
    """Topics are not ordered against each other: a new account's intent can be applied
    before its profile, and its alert then names no owner. The dead route (any intent)
    hears it then; once the profile names alice, her route hears it, and only hers."""
    s = worker.settings
    send(s, s.topics.intent, intent("acct-dave", 5))
    first = wait_until(
        lambda: [a for a in read_all(s, s.topics.surge_alerts) if a["account_id"] == "acct-dave"],
        20,
        "dave's alert with no owner",
    )
    assert [a["owner"] for a in first] == [None]
    assert not [b for b in receivers["alice"].bodies() if b["account_id"] == "acct-dave"]
    send(s, s.topics.accounts, profile("acct-dave", "alice"))
    heard = wait_until(
        lambda: [b for b in receivers["alice"].bodies() if b["account_id"] == "acct-dave"],
        20,
        "dave's alert at alice's route once he is hers",
    )
    (alert,) = heard
    assert (alert["owner"], alert["reissue_of"]) == ("alice", first[0]["alert_id"])
    dead_letters = wait_until(
        lambda: [d for d in read_all(s, s.topics.dead_letter) if d["key"] == "acct-dave"],
        60,
        "the dead route's copy of the first alert",
    )
    assert [orjson.loads(d["value"])["alert_id"] for d in dead_letters] == [first[0]["alert_id"]]
