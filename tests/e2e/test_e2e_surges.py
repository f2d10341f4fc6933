"""Surge alerts end to end: the topic, the Redis mirror and a signed webhook on loopback.

The worker runs on event time, so five weeks of baseline traffic take a second to send.
A local HTTP server plays the webhook receiver; it refuses alerts for accounts whose id
starts with "broken", so one worker shows both delivery and a failing receiver.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from redis import Redis

from streams.sinks.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.harness import launch, pipeline_settings, read_all, send, wait_until

DAY = 86_400_000
T = (int(time.time() * 1000) // DAY - 60) * DAY + 9 * 3_600_000  # 60 days ago, 09:00 UTC
SECRET = "test-webhook-secret-of-at-least-32-bytes"
RETRY_BACKOFF_S = 1.0
ATTEMPTS = 4


@dataclass
class Post:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def alert(self) -> dict:
        return orjson.loads(self.body)["alert"]


@dataclass
class Receiver:
    url: str
    posts: list[Post] = field(default_factory=list)

    def for_account(self, account: str) -> list[Post]:
        return [p for p in list(self.posts) if p.alert["account_id"] == account]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    posts: list[Post] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posts.append(Post(dict(self.headers), body, time.monotonic()))
            broken = orjson.loads(body)["alert"]["account_id"].startswith("broken")
            self.send_response(500 if broken else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{server.server_port}/hook", posts)
    server.shutdown()


@pytest.fixture(scope="module")
def worker(stack, receiver, request):
    settings, env = pipeline_settings(
        stack,
        clock="event",
        webhook__url=receiver.url,
        webhook__secret=SECRET,
        webhook__max_attempts=ATTEMPTS,
        webhook__backoff_s=RETRY_BACKOFF_S,
        webhook__max_age_s=365 * 86_400,  # the scripted history is weeks old
    )
    running = launch(settings, env, request.module.__name__)
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]


def page_views(account: str, day: int, count: int, prefix: str = "") -> list[dict]:
    return [
        {
            "event_id": f"{account}-{prefix}{day}-{i}",
            "account_id": account,
            "contact_id": f"contact-{i % 4}",
            "channel": "web",
            "action": "page_view",
            "occurred_at": T + day * DAY + i * 60_000,
        }
        for i in range(count)
    ]


def baseline(account: str, days: int = 35) -> list[dict]:
    """One page view a day: 7 points a week, under the 10-point minimum, so never a surge."""
    return [e for d in range(days) for e in page_views(account, d, 1)]


def settle(worker, account: str, day: int) -> dict:
    """Send a last event on `day` and wait until the view shows it: all before is done."""
    s = worker.settings
    send(s, s.topics.engagement, *page_views(account, day, 1, prefix="last-"))
    redis = Redis.from_url(s.redis_url, decode_responses=True)
    updated = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((T + day * DAY) / 1000))
    return wait_until(
        lambda: (
            (h := redis.hgetall(f"{s.redis_prefix}account:{account}"))
            .get("updated_at", "")
            .startswith(updated)
            and h
        ),
        30,
        f"{account}'s view at day {day}",
    )


def alerts_for(worker, account: str) -> list[dict]:
    s = worker.settings
    return [a for a in read_all(s, s.topics.surge_alerts) if a["account_id"] == account]


def profile(account: str) -> dict:
    return {
        "account_id": account,
        "name": account.title(),
        "fit_score": 85,
        "expected_acv": 80_000,
        "owner": "sam@example.com",
    }


def test_an_engagement_surge_alerts_once_on_the_topic_in_redis_and_at_the_webhook(worker, receiver):
    s = worker.settings
    acct = "surger"
    send(s, s.topics.accounts, profile(acct))
    send(s, s.topics.engagement, *baseline(acct))
    burst = page_views(acct, 35, 20)
    send(s, s.topics.engagement, *burst)
    send(s, s.topics.engagement, *burst)  # redelivered by a producer retry: same event ids
    view = settle(worker, acct, 36)

    alerts = alerts_for(worker, acct)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["kind"] == "engagement"
    # Raised the moment the week crossed 2 x 7: at the burst's 8th view, not after it.
    assert alert["score"] == 14
    assert alert["baseline"] == 7
    assert alert["engaged_contacts"] == 4
    assert alert["owner"] == "sam@example.com"
    assert alert["top_channels"] == [{"channel": "web", "points": 14.0}]
    assert view["surging"] == "engagement"

    redis = Redis.from_url(s.redis_url, decode_responses=True)
    stream = wait_until(lambda: redis.xrange(f"{s.redis_prefix}alerts"), 10, "the alert stream")
    assert [(f["alert_id"], f["account_id"]) for _id, f in stream] == [(alert["alert_id"], acct)]
    assert orjson.loads(stream[0][1]["alert"]) == alert
    strength = redis.zscore(f"{s.redis_prefix}rank:surge", acct)
    # The rank follows the account's current week: 5 + 20 + 1 points where 14 were needed.
    assert strength == pytest.approx(26 / 14, rel=1e-5)

    posts = wait_until(lambda: receiver.for_account(acct), 10, "the webhook POST")
    assert len(posts) == 1
    post = posts[0]
    assert post.alert == alert
    assert post.headers["X-ABM-Alert-Id"] == alert["alert_id"]
    assert verify(
        SECRET.encode(), post.headers[TIMESTAMP_HEADER], post.body, post.headers[SIGNATURE_HEADER]
    )
    assert not verify(
        b"wrong", post.headers[TIMESTAMP_HEADER], post.body, post.headers[SIGNATURE_HEADER]
    )
    assert "Surger" in orjson.loads(post.body)["text"]


def test_a_second_burst_inside_the_cooldown_raises_no_alert(worker):
    s = worker.settings
    acct = "repeat-burst"
    send(s, s.topics.accounts, profile(acct))
    send(s, s.topics.engagement, *baseline(acct), *page_views(acct, 35, 20, prefix="b1-"))
    quiet = [e for d in range(36, 44) for e in page_views(acct, d, 1)]
    send(s, s.topics.engagement, *quiet)  # the burst leaves the week on day 42: surge over
    send(s, s.topics.engagement, *page_views(acct, 44, 40, prefix="b2-"))
    view = settle(worker, acct, 45)

    assert view["surging"] == "engagement"  # the second burst is a surge ...
    assert len(alerts_for(worker, acct)) == 1  # ... inside the 14-day cool-down: no alert


def test_a_failing_webhook_is_retried_then_dead_lettered_without_stalling_the_stream(
    worker, receiver
):
    s = worker.settings
    intent = {"provider": "bombora", "topic": "crm software", "score": 90, "occurred_at": T}
    send(s, s.topics.accounts, profile("broken-hook"), profile("healthy-hook"))
    send(s, s.topics.intent, {**intent, "event_id": "b-1", "account_id": "broken-hook"})
    send(s, s.topics.intent, {**intent, "event_id": "h-1", "account_id": "healthy-hook"})

    healthy = wait_until(lambda: receiver.for_account("healthy-hook"), 10, "the healthy POST")
    # Delivered while the broken alert is still being retried: the stream never waited.
    assert len(receiver.for_account("broken-hook")) < ATTEMPTS
    assert len(healthy) == 1

    letters = wait_until(
        lambda: [d for d in read_all(s, s.topics.dead_letter) if d["key"] == "broken-hook"],
        60,
        "the dead-lettered alert",
    )
    assert len(letters) == 1
    letter = letters[0]
    assert letter["reason"] == "webhook_failed"
    assert letter["source_topic"] == s.topics.surge_alerts
    assert "HTTP 500" in letter["error"]
    (alert,) = alerts_for(worker, "broken-hook")
    assert orjson.loads(letter["value"]) == alert
    assert len(receiver.for_account("broken-hook")) == ATTEMPTS


def test_the_default_route_tells_sales_of_target_accounts_only(worker, receiver):
    """An account outside the ICP (untiered) surges on the topic, for downstream systems,
    but the default route (ABM_WEBHOOK__URL) posts only tiers 1-3."""
    s = worker.settings
    intent = {"provider": "bombora", "topic": "crm software", "score": 90, "occurred_at": T}
    send(s, s.topics.accounts, profile("target-hook"), {**profile("outside"), "fit_score": 20})
    send(s, s.topics.intent, {**intent, "event_id": "o-1", "account_id": "outside"})
    send(s, s.topics.intent, {**intent, "event_id": "t-1", "account_id": "target-hook"})
    wait_until(lambda: receiver.for_account("target-hook"), 10, "the target's POST")
    (alert,) = wait_until(lambda: alerts_for(worker, "outside"), 10, "the outside alert")
    assert alert["tier"] == 0
    assert receiver.for_account("outside") == []
