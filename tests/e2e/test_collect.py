"""`abm collect` over HTTP, as a child process on the embedded broker: every route, the
write key, the size limits, bad JSON and bad calls, CORS, backpressure, a fuzz of
request bodies, and the topic scanned for addresses at the end.

The outage case (503, /health, recovery) stops and restarts a broker of its own, so it
cannot disturb the session's."""

import base64
import gzip
import json
import string
import threading
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.collect.calls import MAX_CALLS
from streams.collect.server import BATCH, CALLS, WEBHOOK
from streams.dev.embedded import EmbeddedStack
from streams.logic.identity.redact import ADDRESS, contact_of
from tests.e2e.collect_tools import (
    IDENTITY_KEY,
    SERVER_KEY,
    SITE_KEY,
    Collector,
    running,
    start_collector,
)
from tests.harness import abm, wait_until

ADDRESSES = ("jo@acme.com", "Pat.Lee+abm@globex.io", "sam%40initech.co")
"""Addresses the tests send, in the forms sites send them; none may reach the topic."""


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


SERVER = basic(SERVER_KEY)


def call(kind: str = "track", person: str = "u-1", **fields: object) -> dict:
    body: dict = {"type": kind, "userId": person, "timestamp": "2026-05-01T10:00:00Z"}
    if kind == "track":
        body["event"] = "Form Submitted"
    return {**body, **fields}


@pytest.fixture(scope="module")
def collector(stack) -> Iterator[Collector]:
    yield from running(start_collector(stack, "collect"))


def test_every_route_takes_its_call_typed_by_the_path(collector):
    sent = []
    for kind, paths in CALLS.items():
        for path in paths:
            message = f"m-{path.rsplit('/', 1)[1]}"
            body = {**call("track"), "messageId": message, "previousId": "p-1"}
            reply = collector.post(path, body, SERVER)
            assert (reply.status, reply.json()) == (200, {"success": True}), (path, reply)
            sent.append((message, kind))
    by_id = {value["messageId"]: value for _, value in collector.wait_for(len(sent))}
    for message, kind in sent:
        assert by_id[message]["type"] == kind, message
        assert by_id[message]["receivedAt"].endswith("Z")


def test_a_batch_is_produced_call_by_call_keyed_by_person(collector):
    batch = {
        "batch": [
            call("identify", "u-b1", traits={"email": ADDRESSES[0]}, messageId="b-1"),
            call("page", None, anonymousId="anon-b2", messageId="b-2"),
            call("track", ADDRESSES[1], messageId="b-3"),
        ],
        "context": {"library": {"name": "analytics-python"}},
        "sentAt": "2026-05-01T10:00:01Z",
    }
    reply = collector.post("/v1/batch", batch, SERVER)
    assert (reply.status, reply.json()) == (200, {"success": True})
    records = {
        value["messageId"]: (key, value)
        for key, value in collector.records()
        if value["messageId"].startswith("b-")
    }
    key = IDENTITY_KEY.encode()
    assert records["b-1"][0] == b"u-b1"
    assert records["b-1"][1]["traits"]["email_contact"] == contact_of(ADDRESSES[0], key)
    assert records["b-2"][0] == b"anon-b2"
    assert records["b-3"][0] == contact_of(ADDRESSES[1], key).encode()
    assert all(v["context"]["library"] == {"name": "analytics-python"} for _, v in records.values())
    assert all("writeKey" not in v for _, v in records.values())


@pytest.mark.parametrize(
    ("headers", "body_key", "status"),
    [
        ({}, None, 401),
        ({}, "wrong", 401),
        ({}, SITE_KEY, 200),
        (SERVER, None, 200),
        (basic("wrong"), SITE_KEY, 401),
        ({"Authorization": "Bearer " + SITE_KEY}, None, 401),
        ({"Authorization": "Bearer " + SITE_KEY}, SITE_KEY, 200),
    ],
)
def test_the_write_key_is_checked_from_the_header_first_then_the_body(
    collector, headers, body_key, status
):
    body = call("page") if body_key is None else {**call("page"), "writeKey": body_key}
    reply = collector.post("/v1/p", body, headers)
    assert reply.status == status, reply
    if status == 401:
        assert reply.json()["code"] == "unauthorized"


def test_413_over_segment_s_limits_told_or_not(collector):
    big = call("track", properties={"pad": "x" * (32 * 1024)})
    assert collector.post("/v1/track", big, SERVER).status == 413
    huge = {"batch": [call("page", properties={"pad": "x" * 1000})] * 600}
    assert collector.post("/v1/batch", huge, SERVER).status == 413
    # Chunked, without a Content-Length: the read stops at the limit.
    chunks = (b"x" * 4096 for _ in range(200))
    reply = collector.request("POST", "/v1/batch", chunks, SERVER)
    assert reply.status == 413
    # A small gzip body inflating past the limit.
    bomb = gzip.compress(b'{"batch": [], "pad": "' + b"0" * 5_000_000 + b'"}')
    assert len(bomb) < 10_000
    reply = collector.request("POST", "/v1/batch", bomb, {**SERVER, "Content-Encoding": "gzip"})
    assert reply.status == 413
    ok = gzip.compress(orjson.dumps({"batch": [call("page", messageId="gz-1")]}))
    reply = collector.request("POST", "/v1/batch", ok, {**SERVER, "Content-Encoding": "gzip"})
    assert reply.status == 200, reply


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/track", b"{", "not JSON"),
        ("/v1/track", b"", "empty"),
        ("/v1/track", b"[1]", "a call must be a JSON object"),
        ("/v1/track", orjson.dumps({"userId": "u"}), "event: a track call needs its event name"),
        ("/v1/page", orjson.dumps({"timestamp": "x"}), "userId or anonymousId"),
        ("/v1/batch", orjson.dumps({"batch": {}}), "`batch` is a list"),
        ("/v1/batch", orjson.dumps({"batch": [{"type": "x", "userId": "u"}]}), "batch[0]: type"),
    ],
)
def test_400_says_why(collector, path, body, message):
    reply = collector.request("POST", path, body, SERVER)
    assert reply.status == 400, reply
    assert message in reply.json()["message"]


def test_a_batch_keeps_its_good_calls_and_lists_the_bad_by_index(collector):
    batch = {
        "batch": [
            call("page", messageId="mixed-0"),
            {"type": "track", "userId": "u", "messageId": "mixed-1"},
            "not a call",
            call("page", messageId="mixed-3"),
        ]
    }
    reply = collector.post("/v1/b", batch, SERVER)
    assert reply.status == 200
    refused = reply.json()["refused"]
    assert [r["index"] for r in refused] == [1, 2]
    assert "event" in refused[0]["reason"]
    ids = {v["messageId"] for _, v in collector.records()}
    assert {"mixed-0", "mixed-3"} <= ids
    assert "mixed-1" not in ids


def test_calls_past_segment_s_count_are_refused_together(collector):
    batch = {"batch": [call("page", messageId=f"many-{i}") for i in range(MAX_CALLS + 3)]}
    reply = collector.post("/v1/batch", batch, SERVER)
    assert reply.status == 200
    assert [(r["index"], r["calls"]) for r in reply.json()["refused"]] == [(MAX_CALLS, 3)]


def test_browsers_are_answered_with_cors_and_text_plain_is_json(collector):
    preflight = collector.request(
        "OPTIONS",
        "/v1/t",
        headers={
            "Origin": "https://www.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert (
        preflight.headers["Access-Control-Allow-Headers"]
        == "authorization,content-type,x-retry-count"
    )
    body = orjson.dumps({**call("track", messageId="cors-1"), "writeKey": SITE_KEY})
    reply = collector.request(
        "POST", "/v1/t", body, {"Content-Type": "text/plain", "Origin": "https://www.example.com"}
    )
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in reply.headers["Access-Control-Expose-Headers"]
    refused = collector.request("POST", "/v1/t", b"{", {"Origin": "https://www.example.com"})
    assert refused.headers["Access-Control-Allow-Origin"] == "*"


def test_a_segment_webhook_destination_relays_calls_as_processed(collector):
    processed = call(
        "track",
        "u-hook",
        messageId="hook-1",
        originalTimestamp="2026-05-01T09:59:00Z",
        timestamp="2026-05-01T10:00:00Z",
        sentAt="2026-05-01T09:59:01Z",
        receivedAt="2026-05-01T10:00:01Z",
    )
    assert collector.post(WEBHOOK, processed, SERVER).status == 200
    batch = [call("page", "u-hook", messageId="hook-2"), call("page", "u-hook", messageId="hook-3")]
    assert collector.post(WEBHOOK, batch, SERVER).status == 200
    found = {
        v["messageId"]: v for _, v in collector.records() if v["messageId"].startswith("hook-")
    }
    assert set(found) == {"hook-1", "hook-2", "hook-3"}
    assert {k: found["hook-1"][k] for k in processed} == processed


def test_unknown_routes_and_methods_are_json_errors(collector):
    assert collector.post("/v1/nope", {}, SERVER).status == 404
    assert collector.request("GET", "/v1/batch").status == 405
    assert collector.request("GET", "/health").json()["status"] == "ok"


def _dumps(value: object) -> bytes:
    """JSON of a generated value; integers past 64 bits (which no JSON library here
    writes) stay as text, still a number to the server."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value).encode()


json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(ADDRESSES),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(["type", "userId", "anonymousId", "email", "event", "batch", "context"])
            | st.text(string.ascii_letters, max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=40,
)
bodies = st.one_of(
    json_value.map(_dumps),
    st.binary(max_size=200),
    st.builds(
        lambda calls, extra: _dumps({"batch": calls, **extra}),
        st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["track", "page", "identify", "group", "alias", "x"])},
                optional={
                    "userId": st.sampled_from(["u", "", *ADDRESSES]) | st.integers(),
                    "anonymousId": st.text(max_size=5),
                    "event": st.text(max_size=10),
                    "timestamp": st.text(max_size=30) | st.integers(),
                    "sentAt": st.sampled_from(["2026-05-01T10:00:00Z", "nope"]),
                    "traits": st.dictionaries(st.sampled_from(["email", "name"]), json_value),
                    "context": json_value,
                },
            ),
            max_size=5,
        ),
        st.fixed_dictionaries({}, optional={"context": json_value, "sentAt": json_value}),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from([*[p for ps in CALLS.values() for p in ps], *BATCH, WEBHOOK]),
    body=bodies,
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded"]
    ),
)
def test_random_bodies_never_get_a_500(collector, path, body, content_type):
    reply = collector.request("POST", path, body, {**SERVER, "Content-Type": content_type})
    assert reply.status in (200, 400, 413), (reply, body)
    assert collector.proc.poll() is None


def test_backed_up_the_collector_answers_429_with_retry_after(stack):
    """One call may await the broker at a time: concurrent requests find it taken."""
    with_bound = start_collector(stack, "collect-429", ABM_COLLECT_MAX_PENDING="1")
    try:
        replies = []

        def send(n: int) -> None:
            body = {"batch": [call("page", messageId=f"b429-{n}-{i}") for i in range(3)]}
            replies.append(with_bound.post("/v1/batch", body, SERVER))

        threads = [threading.Thread(target=send, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        statuses = sorted(r.status for r in replies)
        assert set(statuses) == {200, 429}, statuses
        throttled = next(r for r in replies if r.status == 429)
        assert int(throttled.headers["Retry-After"]) > 0
        assert throttled.json()["code"] == "backlogged"
        accepted = statuses.count(200) * 3
        assert len(with_bound.wait_for(accepted)) == accepted
    finally:
        assert with_bound.stop() == 0, with_bound.log_text()


def test_without_a_write_key_it_refuses_to_start(stack):
    done = abm("collect", env={**stack.env(), "ABM_COLLECT_WRITE_KEYS": ""})
    assert done.returncode == 1
    assert "no write key is configured: set ABM_COLLECT_WRITE_KEYS" in done.stderr


def test_a_broker_outage_is_503_then_healthy_again():
    """Its own broker: stopped while the collector runs, then started again (empty)."""
    with EmbeddedStack() as own:
        collector = start_collector(own, "collect-outage", ABM_COLLECT_ACK_TIMEOUT_S="2")
        try:
            assert collector.post("/v1/p", call("page"), SERVER).status == 200
            own.stop_broker()
            reply = collector.post("/v1/p", call("page", messageId="during"), SERVER)
            assert reply.status == 503, reply
            assert reply.json()["code"] == "unavailable"
            assert int(reply.headers["Retry-After"]) > 0
            assert collector.request("GET", "/health").status == 503
            own.start_broker()
            wait_until(
                lambda: collector.post("/v1/p", call("page"), SERVER).status == 200,
                60,
                "the collector taking calls again",
                step=1,
            )
            assert collector.request("GET", "/health").status == 200
        finally:
            assert collector.stop() == 0, collector.log_text()


def test_metrics_count_requests_and_calls(collector):
    text = collector.request("GET", "/metrics").body.decode()
    for sample in (
        'abm_collect_requests_total{status="200"}',
        'abm_collect_requests_total{status="401"}',
        'abm_collect_requests_total{status="413"}',
        'abm_collect_calls_total{outcome="accepted"}',
        'abm_collect_calls_total{outcome="refused"}',
        "abm_collect_request_seconds_bucket",
        "abm_collect_pending_calls 0.0",
    ):
        assert sample in text, sample


def test_no_address_was_ever_written(collector):
    """Last in the module: everything the tests above sent, scanned."""
    assert len(collector.records()) > 50
    assert collector.addresses_written() == []
    for _, value in collector.raw_records():
        assert not ADDRESS.search(value.decode()), value
