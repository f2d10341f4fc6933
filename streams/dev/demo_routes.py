"""The demo's sales side: its rules file (two intent clusters, a buying-committee tier, a
fifth of the accounts held out, a route per owner for two of the four owners) and
a local receiver per route that checks each POST's signature and says what the owner
would read.

While history loads the receivers only count (a team switching the engine on does not
page its sellers about last month); in the live phase they print each delivery.
"""

import secrets
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import orjson

from schemas.outputs import SurgeAlert, TierChange
from streams.logic.rules import Rules
from streams.sinks.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, message, tier_message, verify

__all__ = ["ROUTED_OWNERS", "Receivers", "demo_rules", "receivers", "rule_set"]

ROUTES = {"alice": ("alice@example.com", "slack"), "bob": ("bob@example.com", "json")}
ROUTED_OWNERS = {owner for owner, _ in ROUTES.values()}

RULES = """\
# The demo's rules: what `abm demo` runs. Tier 1 asks for a decision maker among the
# engaged contacts (and intent or engagement); intent counts only on the topics of two
# clusters. A fifth of the accounts is held out (told of no surge) to measure
# what the alerts add: `abm kpis`, alerts.
[rules.outcomes]
holdout = 0.2

[rules.intent]
only_listed = true

[rules.intent.clusters]
revenue = ["crm", "marketing automation"]
data = ["data platform", "analytics"]

[[rules.tiers]]
tier = 1
name = "committee-engaged"
min_fit = 70
min_acv = 50000
signals = ["intent", "engagement"]
match = "any"
require_personas = ["decision_maker"]

[[rules.tiers]]
tier = 2
name = "in-market"
min_fit = 70
signals = ["intent", "engagement"]
match = "any"

[[rules.tiers]]
tier = 3
name = "fit"
min_fit = 70
"""

ROUTE = """
[[routes]]
name = "{name}"
owners = ["{owner}"]
tiers = [1, 2, 3]
kinds = ["intent", "engagement", "tier_up"]
url = "{url}"
format = "{format}"
secret_env = "ABM_ROUTE_DEMO_{upper}_KEY"
"""


class Receivers:
    """What each route's receiver got: counted always, printed once `live` is set."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.keys = {name: secrets.token_hex(32) for name in ROUTES}
        self.counts = dict.fromkeys(ROUTES, 0)
        self.forged = 0
        self.live = False
        self.lock = threading.Lock()

    def env(self) -> dict[str, str]:
        """The routes' keys, as the worker reads them."""
        return {f"ABM_ROUTE_DEMO_{name.upper()}_KEY": key for name, key in self.keys.items()}

    def got(self, name: str, headers: dict[str, str], body: bytes) -> None:
        signed = verify(
            self.keys[name].encode(),
            headers.get(TIMESTAMP_HEADER, ""),
            body,
            headers.get(SIGNATURE_HEADER, ""),
        )
        with self.lock:
            self.counts[name] += 1
            self.forged += not signed
        if self.live:
            click.echo(f"  [{name}'s route] {_text(ROUTES[name][1], body)}")

    def summary(self) -> str:
        heard = ", ".join(f"{name} {n}" for name, n in self.counts.items())
        check = "all signatures valid" if not self.forged else f"{self.forged} BAD SIGNATURES"
        return f"Routes' deliveries so far: {heard} ({check})"


def _text(format: str, body: bytes) -> str:
    """The Slack text of a delivery (a json route's body is the contract: render it)."""
    payload = orjson.loads(body)
    if format == "slack":
        return str(payload["text"])
    if "alert_id" in payload:
        return str(orjson.loads(message(SurgeAlert.model_validate(payload)))["text"])
    return str(orjson.loads(tier_message(TierChange.model_validate(payload)))["text"])


@contextmanager
def receivers() -> Iterator[Receivers]:
    """A loopback HTTP receiver per route, serving until the block ends."""
    got = Receivers()
    servers = []
    for name in ROUTES:

        class Handler(BaseHTTPRequestHandler):
            route = name

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got.got(self.route, dict(self.headers), body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        got.urls[name] = f"http://127.0.0.1:{server.server_port}/{name}"
    try:
        yield got
    finally:
        for server in servers:
            server.shutdown()


def demo_rules(directory: Path, got: Receivers) -> Path:
    """Write the demo's rules file, routes pointing at the receivers; return its path."""
    routes = "".join(
        ROUTE.format(name=n, owner=o, url=got.urls[n], format=f, upper=n.upper())
        for n, (o, f) in ROUTES.items()
    )
    directory.mkdir(parents=True, exist_ok=True)  # a fresh clone has no data directory yet
    path = directory / "demo-rules.toml"
    path.write_text(RULES + routes)
    return path


def rule_set() -> Rules:
    """The rules of the file `demo_rules` writes, as the worker reads them: the world's
    sellers answer the alerts these raise."""
    return Rules.model_validate(tomllib.loads(RULES)["rules"])
