"""Deliveries owed to a route survive a crash: a worker killed while its route's queue is
full of alerts is followed by one that posts every one of them (at least once: a receiver
drops repeats by X-ABM-Alert-Id).

The receiver holds its first request until released, so the route's single sender is
stuck and the other alerts wait in memory; the worker is killed once each account's
state record, with the alert still owed to the route in its outbox, is in the changelog.
"""

import signal
import time
from pathlib import Path

from tests.harness import (
    ARTIFACTS,
    RouteReceiver,
    launch,
    pipeline_settings,
    read_all,
    send,
    wait_until,
)

DAY = 86_400_000
T = (int(time.time() * 1000) // DAY - 10) * DAY
KEY = "route-key-of-at-least-thirty-two-bytes"
ACCOUNTS = [f"acct-{n}" for n in range(6)]


def owed_to_the_route(settings) -> set[str]:
    """Accounts whose latest stored state owes its alert to the route."""
    latest: dict[str, dict] = {}
    for record in read_all(settings, settings.changelog("accounts")):
        latest[record["account_id"]] = record
    return {
        account
        for account, state in latest.items()
        if any(len(entry) == 4 and entry[3] == ["sales"] for entry in state["outbox"])
    }


def test_alerts_queued_for_a_route_are_posted_after_the_worker_is_killed(stack):
    receiver = RouteReceiver(held=True)
    ARTIFACTS.mkdir(exist_ok=True)
    rules = Path(ARTIFACTS / "durable-routes.toml")
    rules.write_text(f"""
[[routes]]
name = "sales"
kinds = ["intent"]
url = "{receiver.url}"
secret_env = "ABM_ROUTE_SALES_KEY"
""")
    settings, env = pipeline_settings(
        stack,
        clock="event",
        config_file=rules,
        webhook__senders=1,
        webhook__timeout_s=60,
        webhook__max_age_s=365 * 86_400,
    )
    env["ABM_ROUTE_SALES_KEY"] = KEY
    first = launch(settings, env, "durable-routes-1")
    try:
        for account in ACCOUNTS:
            send(
                settings,
                settings.topics.accounts,
                {"account_id": account, "name": account, "fit_score": 90, "owner": "sam"},
            )
        for account in ACCOUNTS:
            intent = {
                "event_id": f"{account}-i",
                "account_id": account,
                "provider": "g2",
                "topic": "crm software",
                "score": 90,
                "occurred_at": T,
            }
            send(settings, settings.topics.intent, intent)
        alerts = wait_until(
            lambda: len(a := read_all(settings, settings.topics.surge_alerts)) == 6 and a,
            30,
            "six alerts on the topic",
        )
        wait_until(
            lambda: owed_to_the_route(settings) == set(ACCOUNTS),
            30,
            "the states that owe the route their alert, stored",
        )
        assert len(receiver.ids) <= 1  # one request held, the rest queued in memory
    finally:
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    receiver.release.set()
    second = launch(settings, env, "durable-routes-2")
    try:
        want = {a["alert_id"] for a in alerts}
        wait_until(lambda: want <= set(receiver.ids), 60, "every alert posted to the route")
        assert set(receiver.ids) == want  # nothing else, each at least once
    finally:
        assert second.stop() == 0
        receiver.server.shutdown()
