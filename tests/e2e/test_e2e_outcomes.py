"""Alert outcomes end to end: a holdout that reaches no route and no seller's view, and
the outcome of each alert published on its topic once its horizon passed.

Sixteen accounts of one owner surge at once under a 50% holdout; a real HTTP receiver
stands for the owner's route. Then the owner answers some alerts, some accounts open an
opportunity, and an event past each horizon lets the outcomes out.
"""

import time

import pytest
from redis import Redis

from schemas.common import to_ms
from schemas.outputs import AlertOutcome, SurgeAlert
from streams.clients.redis_keys import RedisKeys
from streams.config import load_rules
from streams.logic.signals.outcomes import held_out
from tests.harness import (
    ARTIFACTS,
    RouteReceiver,
    launch,
    metric_sum,
    pipeline_settings,
    read_all,
    read_metrics,
    send,
    wait_until,
)

DAY = 86_400_000
MINUTE = 60_000
T = (int(time.time() * 1000) // DAY - 60) * DAY + 9 * 3_600_000
ACCOUNTS = [f"acct-{n:02d}" for n in range(16)]
RULES = ARTIFACTS / "outcomes.toml"


@pytest.fixture(scope="module")
def receiver():
    listening = RouteReceiver()
    yield listening
    listening.server.shutdown()


@pytest.fixture(scope="module")
def worker(stack, receiver, request):
    ARTIFACTS.mkdir(exist_ok=True)
    rules = RULES
    rules.write_text(f"""
[rules.outcomes]
holdout = 0.5
response_sla_minutes = 60

[[routes]]
name = "alice"
owners = ["alice"]
kinds = ["intent"]
url = "{receiver.url}"
secret_env = "ABM_ROUTE_ALICE_KEY"
""")
    settings, env = pipeline_settings(
        stack, clock="event", config_file=rules, webhook__max_age_s=365 * 86_400
    )
    env["ABM_ROUTE_ALICE_KEY"] = "alice-route-key-of-at-least-32-bytes"
    running = launch(settings, env, request.module.__name__)
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]


def event(kind: str, account: str, n: int, at: int, **fields) -> dict:
    return {"event_id": f"{account}-{kind}{n}", "account_id": account, "occurred_at": at, **fields}


def test_held_out_alerts_reach_no_route_and_every_alert_gets_its_outcome(worker, receiver):
    s = worker.settings
    profiles = [
        {"account_id": a, "name": a, "fit_score": 85, "expected_acv": 80_000, "owner": "alice"}
        for a in ACCOUNTS
    ]
    send(s, s.topics.accounts, *profiles)
    send(
        s,
        s.topics.intent,
        *(event("i", a, 0, T, provider="g2", topic="crm software", score=90) for a in ACCOUNTS),
    )
    alerts = wait_until(
        lambda: (got := read_all(s, s.topics.surge_alerts)) and len(got) == len(ACCOUNTS) and got,
        30,
        "an alert per account",
    )
    alerts = [SurgeAlert.model_validate(a) for a in alerts]
    rules = load_rules(RULES).outcomes
    for alert in alerts:
        assert alert.holdout == held_out(alert.account_id, to_ms(alert.detected_at), rules)
    delivered = sorted(a.alert_id for a in alerts if not a.holdout)
    held = {a.account_id for a in alerts if a.holdout}
    assert delivered, "some delivered"
    assert held, "some held out"

    wait_until(lambda: len(receiver.ids) >= len(delivered), 30, "the delivered alerts posted")
    assert sorted(receiver.ids) == delivered
    metrics = read_metrics(s)
    posted = metric_sum(metrics, "abm_route_deliveries_total", route="alice", outcome="sent")
    assert posted == len(delivered)
    # No seller sees a held-out surge: the view's ranking of surging accounts leaves it out.
    redis = Redis.from_url(s.redis_url, decode_responses=True)
    rank = RedisKeys(s.redis_prefix).surge_rank
    shown = set(ACCOUNTS) - held
    wait_until(lambda: set(redis.zrange(rank, 0, -1)) == shown, 20, "the delivered ranked")

    # alice answers the first half (20 or 90 minutes on); the even ones open a deal on day 3.
    answered = {a: (20 if n % 4 else 90) for n, a in enumerate(ACCOUNTS[:8])}
    send(
        s,
        s.topics.sales_activities,
        *(
            event("a", a, 0, T + minutes * MINUTE, rep_id="alice", type="call")
            for a, minutes in answered.items()
        ),
    )
    opened = ACCOUNTS[::2]
    deal = {"stage": "prospecting", "amount": 40_000}
    send(
        s,
        s.topics.deals,
        *(event("d", a, 0, T + 3 * DAY, opportunity_id=f"{a}-o", **deal) for a in opened),
    )
    # An event past the horizon moves each account's clock there.
    late = T + 31 * DAY
    send(
        s,
        s.topics.sales_activities,
        *(event("a", a, 1, late, rep_id="bob", type="email") for a in ACCOUNTS),
    )
    outcomes = wait_until(
        lambda: (got := read_all(s, s.topics.alert_outcomes)) and len(got) >= len(ACCOUNTS) and got,
        30,
        "an outcome per alert",
    )
    by_account = {o["account_id"]: AlertOutcome.model_validate(o) for o in outcomes}
    assert sorted(by_account) == ACCOUNTS
    for alert in alerts:
        got = by_account[alert.account_id]
        minutes = answered.get(alert.account_id)
        assert (got.alert_id, got.holdout, got.owner) == (alert.alert_id, alert.holdout, "alice")
        assert got.response_minutes == minutes
        assert got.responded_by == (None if minutes is None else "alice")
        assert got.sla_met == (minutes is not None and minutes <= 60)
        expected = (f"{alert.account_id}-o", 40_000) if alert.account_id in opened else (None, None)
        assert (got.opportunity_id, got.opportunity_amount) == expected
