"""The webhook sink against a real HTTP server on loopback, and the signature scheme."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import date
from email.utils import formatdate
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from schemas.outputs import DeadLetterReason, SurgeAlert
from streams.config import Webhook
from streams.logic.signals.alerts import alert_id
from streams.sinks.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE_S,
    escaped,
    message,
    sign,
    verify,
)
from streams.sinks.webhook import WebhookSink, retry_after_s, shown_url

NOW_MS = int(time.time() * 1000)
KEY = "k" * 32


def make_alert(account: str = "acme", n: int = 0, at: int = NOW_MS) -> SurgeAlert:
    return SurgeAlert(
        alert_id=alert_id(account, "intent", n),
        account_id=account,
        account_name="Acme Corp",
        owner="sam@example.com",
        kind="intent",
        score=72,
        baseline=30,
        ratio=2.4,
        window="7d vs 4w mean",
        topics=[{"topic": "crm", "score": 72, "baseline": 30, "ratio": 2.4}],
        tier=1,
        engaged_contacts=3,
        contacts=["a", "b", "c"],
        committee=[
            {"contact_id": "a", "persona": "decision_maker", "title": "CFO", "seniority": None},
            {"contact_id": None, "persona": "unknown", "title": None, "seniority": None},
        ],
        top_channels=[{"channel": "web", "points": 12}],
        detected_at=at + n,
    )


@contextlib.asynccontextmanager
async def receiver(
    statuses: Callable[[int], int | web.Response],
) -> AsyncIterator[tuple[str, list[bytes]]]:
    """An HTTP server on a free loopback port answering the n-th POST with statuses(n) (a
    status, or a whole response)."""
    bodies: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        assert verify(
            KEY.encode(),
            request.headers[TIMESTAMP_HEADER],
            bodies[-1],
            request.headers[SIGNATURE_HEADER],
        )
        answer = statuses(len(bodies))
        return answer if isinstance(answer, web.Response) else web.Response(status=answer)

    async def elsewhere(request: web.Request) -> web.Response:
        bodies.append(f"{request.method} {request.path}".encode())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_route("*", "/elsewhere", elsewhere)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook", bodies
    finally:
        await runner.cleanup()


class Letters:
    def __init__(self) -> None:
        self.items: list[tuple[str, DeadLetterReason, str]] = []

    async def __call__(self, alert: SurgeAlert, reason: DeadLetterReason, error: str) -> None:
        self.items.append((alert.alert_id, reason, error))


def config(url: str, **kw: object) -> Webhook:
    return Webhook(url=url, secret=KEY, backoff_s=0.01, max_backoff_s=0.05, **kw)


async def deliver_all(sink: WebhookSink) -> None:
    """Run the senders until every queued alert is delivered or given up."""
    task = asyncio.create_task(sink.run())
    try:
        async with asyncio.timeout(10):
            await sink.queue.join()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_transient_failures_are_retried_until_delivered():
    async with receiver(lambda n: 503 if n < 3 else 200) as (url, bodies):
        letters = Letters()
        sink = WebhookSink(config(url), letters)
        assert sink.offer(make_alert())
        await deliver_all(sink)
    assert len(bodies) == 3
    assert sink.stats.retries == 2
    assert letters.items == []
    assert orjson.loads(bodies[-1])["alert"]["account_id"] == "acme"


async def test_a_refusal_is_not_retried_and_is_dead_lettered():
    async with receiver(lambda n: 404) as (url, bodies):
        letters = Letters()
        sink = WebhookSink(config(url), letters)
        alert = make_alert()
        sink.offer(alert)
        await deliver_all(sink)
    assert len(bodies) == 1
    assert letters.items == [
        (alert.alert_id, DeadLetterReason.WEBHOOK_FAILED, "HTTP 404 from route default")
    ]


async def test_persistent_failure_gives_up_after_max_attempts():
    async with receiver(lambda n: 500) as (url, bodies):
        letters = Letters()
        sink = WebhookSink(config(url, max_attempts=3), letters)
        sink.offer(make_alert())
        await deliver_all(sink)
    assert len(bodies) == 3
    assert sink.stats.failed == 1


async def test_an_unreachable_receiver_is_a_failure_not_a_crash():
    async with receiver(lambda n: 200) as (url, _):
        pass  # closed again: nothing listens on this port now
    letters = Letters()
    sink = WebhookSink(config(url, max_attempts=2), letters)
    sink.offer(make_alert())
    await deliver_all(sink)
    assert letters.items[0][1] == DeadLetterReason.WEBHOOK_FAILED


async def test_a_full_queue_refuses_without_waiting_and_drain_dead_letters_the_rest():
    letters = Letters()
    sink = WebhookSink(config("http://127.0.0.1:9/never", queue_size=2), letters)
    alerts = [make_alert(n=n) for n in range(3)]
    assert [sink.offer(a) for a in alerts] == [True, True, False]
    assert sink.stats.overflowed == 1
    await sink.drain(grace_s=0.05)  # no senders running: nothing can go out
    assert [i[0] for i in letters.items] == [a.alert_id for a in alerts[:2]]
    assert {i[2] for i in letters.items} == {"worker stopped first"}


def test_alerts_from_loading_history_are_not_posted():
    sink = WebhookSink(config("http://127.0.0.1:9/never"), Letters())
    assert sink.offer(make_alert(at=NOW_MS - 2 * 86_400_000))
    assert sink.queue.empty()
    assert sink.stats.too_old == 1


def test_a_webhook_url_needs_a_secret():
    with pytest.raises(ValueError, match="needs a secret"):
        Webhook(url="http://127.0.0.1/hook")


@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=512), flip=st.data())
def test_a_signature_verifies_only_its_own_body_and_timestamp(secret, body, flip):
    signature = sign(secret, "1700000000", body)
    assert verify(secret, "1700000000", body, signature, now=1_700_000_000)
    assert not verify(secret, "1700000001", body, signature, now=1_700_000_000)
    if body:
        i = flip.draw(st.integers(0, len(body) - 1))
        tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert not verify(secret, "1700000000", tampered, signature, now=1_700_000_000)


def test_the_message_reads_well_in_slack_and_carries_the_whole_alert():
    alert = make_alert()
    body = orjson.loads(message(alert))
    assert body["text"].startswith("Intent surge: Acme Corp (Tier 1, owner sam@example.com)")
    assert "crm 72 (2.4x)" in body["text"]
    assert "3 engaged contacts (CFO (decision maker), a contact (unknown))" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["section", "section"]
    assert SurgeAlert.model_validate(body["alert"]) == alert


async def test_a_retry_after_is_waited_before_the_next_attempt():
    """Backoff alone would retry within ~0.02 s; the receiver asks for 1 s."""
    arrivals: list[float] = []

    def answer(n: int) -> int | web.Response:
        arrivals.append(time.monotonic())
        return web.Response(status=429, headers={"Retry-After": "1"}) if n == 1 else 200

    async with receiver(answer) as (url, bodies):
        sink = WebhookSink(Webhook(url=url, secret=KEY, backoff_s=0.01, max_backoff_s=5), Letters())
        assert sink.offer(make_alert())
        await deliver_all(sink)
    assert len(bodies) == 2
    assert arrivals[1] - arrivals[0] >= 1.0


@given(st.integers(0, 10**6))
def test_retry_after_in_seconds(seconds):
    assert retry_after_s(f" {seconds} ", 0.0) == seconds


@given(st.integers(-(10**6), 10**6))
def test_retry_after_as_an_http_date(offset):
    now = 1_790_000_000.0
    header = formatdate(now + offset, usegmt=True)
    assert retry_after_s(header, now) == max(0.0, float(offset))


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "Wed, 99 Foo 2026"])
def test_an_absent_or_unreadable_retry_after_leaves_the_backoff(header):
    assert retry_after_s(header, 0.0) is None


def test_a_cluster_alert_names_its_cluster_and_each_topic_its_source():
    alert = make_alert()
    topic = alert.topics[0].model_copy(update={"provider": "g2", "seen_on": date(2026, 11, 3)})
    alert = alert.model_copy(update={"cluster": "abm", "topics": [topic]})
    text = orjson.loads(message(alert))["text"]
    assert text.startswith("Intent (abm) surge: Acme Corp (Tier 1, owner sam@example.com)")
    assert "crm 72 (2.4x, g2 on Nov 03)" in text


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_not_followed_and_not_counted_as_delivered(status):
    """Followed, a 301/302 turns the POST into a GET without a body, and its 200 would
    count an alert nobody received."""

    def answer(n: int) -> web.Response:
        return web.Response(status=status, headers={"Location": "/elsewhere"})

    async with receiver(answer) as (url, bodies):
        letters = Letters()
        sink = WebhookSink(config(url, max_attempts=2), letters)
        sink.offer(make_alert())
        await deliver_all(sink)
    assert len(bodies) == 2  # two POSTs to /hook, nothing sent to /elsewhere
    assert not any(b.endswith(b"/elsewhere") for b in bodies)
    assert (sink.stats.delivered, sink.stats.failed) == (0, 1)
    assert letters.items[0][1:] == (
        DeadLetterReason.WEBHOOK_FAILED,
        f"HTTP {status} from route default: a redirect, not followed",
    )


async def test_a_retry_after_no_parser_can_read_leaves_the_sender_running():
    """'²' is a digit to str.isdigit and not a number to float(): it once killed the
    route's sender, and the worker with it."""
    answers = iter(["²", "9" * 400, "Wed, 31 Dec 9999 23:59:59 GMT", "1e9"])

    def answer(n: int) -> int | web.Response:
        header = next(answers, None)
        return 200 if header is None else web.Response(status=503, headers={"Retry-After": header})

    async with receiver(answer) as (url, bodies):
        letters = Letters()
        sink = WebhookSink(config(url, max_attempts=2, senders=1), letters)
        for n in (1, 2, 3):
            sink.offer(make_alert(n=n))
        await deliver_all(sink)
    assert (sink.stats.failed, sink.stats.delivered) == (2, 1)
    assert len(bodies) == 5


@given(st.text(max_size=60))
def test_retry_after_reads_any_header_without_raising(header):
    asked = retry_after_s(header, 1_790_000_000.0)
    assert asked is None or 0 <= asked < float("inf")


async def test_errors_name_the_routes_host_and_never_the_rest_of_its_url():
    async with receiver(lambda n: 200) as (url, _):
        pass  # nothing listens there now
    secret_url = url.replace("/hook", "/services/T000/B000/XXXXSECRET")
    letters = Letters()
    sink = WebhookSink(config(secret_url, max_attempts=1), letters)
    sink.offer(make_alert())
    await deliver_all(sink)
    assert "XXXXSECRET" not in letters.items[0][2]
    assert shown_url(secret_url) == "http://127.0.0.1/..."


def _human_parts(body: bytes) -> list[str]:
    """What Slack parses as mrkdwn: the text and every block's text."""
    data = orjson.loads(body)
    return [data["text"], *(b["text"]["text"] for b in data["blocks"])]


text_from_data = st.text(min_size=1, max_size=40).filter(lambda t: t.strip())


@given(name=text_from_data, owner=text_from_data, topic=text_from_data, title=text_from_data)
def test_strings_from_the_data_cannot_format_or_ping_in_slack(name, owner, topic, title):
    fields = make_alert().model_dump(mode="json") | {
        "account_name": name,
        "owner": owner,
        "topics": [{"topic": topic, "score": 72, "baseline": 30, "ratio": 2.4}],
        "committee": [
            {"contact_id": "a", "persona": "champion", "title": title, "seniority": None}
        ],
    }
    alert = SurgeAlert.model_validate(fields)
    parts = _human_parts(message(alert))
    for part in parts:
        assert "<" not in part
        assert ">" not in part
    shown = parts[0].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    for value in (alert.account_name, alert.owner, alert.topics[0].topic):
        assert value in shown  # escaped, not dropped
    assert escaped(alert.committee[0].title or "") in parts[0]


def test_a_channel_ping_in_an_account_name_is_shown_not_sent():
    alert = make_alert().model_copy(update={"account_name": "<!channel> Acme & Co"})
    text = _human_parts(message(alert))[1]
    assert text.startswith("*Intent surge: &lt;!channel&gt; Acme &amp; Co (Tier 1")


async def test_a_route_says_when_it_is_done_with_an_alert_posted_refused_or_too_old():
    """Until then the alert stays owed in its account's outbox, and a crash re-offers it."""
    done: list[tuple[str, str]] = []

    def settled(route: str, item: SurgeAlert) -> None:
        done.append((route, item.alert_id))

    async with receiver(lambda n: 200 if n == 1 else 404) as (url, _):
        sink = WebhookSink(config(url, senders=1), Letters(), settled=settled)
        old = make_alert(n=3, at=NOW_MS - 2 * 86_400_000)
        posted, refused = make_alert(n=1), make_alert(n=2)
        for alert in (posted, refused, old):
            sink.offer(alert)
        assert done == [("default", old.alert_id)]  # too old to post: done at once
        await deliver_all(sink)
    assert done[1:] == [("default", posted.alert_id), ("default", refused.alert_id)]


def _documented_verify():
    """The verify function docs/topics.md gives receivers to copy, as written there."""
    text = (Path(__file__).parents[2] / "docs" / "topics.md").read_text()
    code = text.split("**Verifying.**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(code, namespace)
    return namespace["verify"]


@given(body=st.binary(max_size=200), age=st.integers(-1000, 1000))
def test_the_documented_verify_agrees_with_ours_and_refuses_a_stale_timestamp(body, age):
    copied = _documented_verify()
    now = int(time.time())
    timestamp = str(now - age)
    signature = sign(KEY.encode(), timestamp, body)
    fresh = abs(age) <= TOLERANCE_S - 5  # a margin for the clock moving during the test
    stale = abs(age) > TOLERANCE_S + 5
    for check in (copied, verify):
        if fresh:
            assert check(KEY.encode(), timestamp, body, signature)
        if stale:
            assert not check(KEY.encode(), timestamp, body, signature)
        assert not check(b"another key of thirty-two bytes!", timestamp, body, signature)
    assert not copied(KEY.encode(), "1e9", body, signature)
