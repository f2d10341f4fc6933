"""Account matching end to end: Segment calls on abm.segment.v1 (as RudderStack's Kafka
destination writes them, addresses and all) through the real worker.

Each way of matching places its events on the right account with its method; a visitor's
anonymous events are matched once they identify themselves, those of more than the
stitching window before are not; free mail and unknown domains go to abm.unmatched.v1 with
the reason; a call that cannot be read is dead-lettered without its address; and no
address reaches any topic the engine writes, nor Redis.
"""

import asyncio
import random
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from segment.analytics.client import Client

from streams.clients.produce_tail import Keyed, produce, read_topic
from streams.logic.identity.redact import ADDRESS, contact_of
from streams.logic.inputs.decode import Rejected
from streams.worker.agents.identity import read_record
from tests.e2e.collect_tools import SERVER_KEY, start_collector
from tests.harness import (
    abm,
    collect,
    launch,
    pipeline_settings,
    read_all,
    redis_holds,
    send,
    wait_until,
)

DAY = 86_400_000
HOUR = 3_600_000
T = (int(time.time() * 1000) // DAY - 3) * DAY + 9 * HOUR
KEY = "identity-key-for-tests-0123456789abcdef"


@pytest.fixture(scope="module")
def worker(stack, request):
    settings, env = pipeline_settings(stack, clock="event", identity_key=KEY)
    running = launch(settings, env, request.module.__name__)
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]


def call(kind: str, at: int, **fields) -> dict:
    return {
        "type": kind,
        "messageId": fields.pop("messageId", str(uuid.uuid4())),
        "timestamp": at,
        **fields,
    }


def segment(settings, *calls: dict) -> None:
    for c in calls:
        send(settings, settings.topics.segment, c, key=c.get("userId") or c.get("anonymousId"))


def engagement(settings) -> dict[str, dict]:
    return {e["event_id"]: e for e in read_all(settings, settings.topics.engagement)}


def matched_by(settings, event_ids: set[str], timeout: float = 60) -> dict[str, dict]:
    wanted = {f"seg:{i}" for i in event_ids}
    found = collect(
        settings,
        settings.topics.engagement,
        lambda seen: wanted <= {e["event_id"] for e in seen},
        timeout=timeout,
    )
    return {e["event_id"].removeprefix("seg:"): e for e in found if e["event_id"] in wanted}


def test_calls_are_matched_to_accounts_by_each_method(worker):
    settings = worker.settings
    send(
        settings,
        settings.topics.accounts,
        {"account_id": "acme", "name": "Acme", "domain": "www.acme.com", "domains": ["acme.co.uk"]},
        {"account_id": "globex", "name": "Globex", "domain": "globex.io"},
    )
    send(
        settings,
        settings.topics.contacts,
        {"account_id": "globex", "contacts": [{"contact_id": "crm-7"}], "updated_at": T},
    )
    # The directory learns of the profiles on its own partitions: wait until it answers.
    deadline = time.monotonic() + 60
    while True:
        probe = call("page", T, anonymousId="probe", context={"company": {"domain": "acme.com"}})
        probe2 = call("page", T, userId="crm-7")
        segment(settings, probe, probe2)
        try:
            matched_by(settings, {probe["messageId"], probe2["messageId"]}, timeout=3)
            break
        except AssertionError:
            assert time.monotonic() < deadline, "the directory never answered"

    before = call("page", T, messageId="before", anonymousId="anon-1")
    form = call("track", T + HOUR, messageId="form", anonymousId="anon-1", event="Form Submitted")
    identify = call(
        "identify",
        T + 2 * HOUR,
        userId="Jo.Smith@acme.co.uk",
        anonymousId="anon-1",
        traits={"email": "Jo.Smith@acme.co.uk", "name": "Jo"},
    )
    after = call("page", T + 3 * HOUR, messageId="after", anonymousId="anon-1")
    stale = call("page", T - 10 * DAY, messageId="stale", anonymousId="anon-5")
    stale_id = call("identify", T, anonymousId="anon-5", traits={"email": "kim@acme.com"})
    grouped = call("group", T, anonymousId="anon-4", groupId="globex")
    group_page = call("page", T + HOUR, messageId="group-page", anonymousId="anon-4")
    contact = call("page", T, messageId="contact", userId="crm-7")
    explicit = call(
        "track",
        T,
        messageId="explicit",
        anonymousId="anon-6",
        event="Meeting Booked",
        properties={"account_id": "acme"},
    )
    free = call("identify", T, anonymousId="anon-2", traits={"email": "pat@gmail.com"})
    free_page = call("page", T + HOUR, messageId="free-page", anonymousId="anon-2")
    new = call("identify", T, anonymousId="anon-3", traits={"email": "sam@newco-example.com"})
    new_page = call("page", T + HOUR, messageId="new-page", anonymousId="anon-3")
    unmapped = call("track", T, messageId="video", anonymousId="anon-1", event="Video Played")
    broken = {"type": "page", "anonymousId": "anon-9", "timestamp": T, "x": "lee@acme.com"}
    segment(settings, before, form, stale)
    segment(settings, identify, after, stale_id, grouped, group_page, contact, explicit)
    segment(settings, free, free_page, new, new_page, unmapped, broken)

    got = matched_by(settings, {"before", "form", "after", "group-page", "contact", "explicit"})
    placed = {i: (e["account_id"], e["match_method"]) for i, e in got.items()}
    assert placed == {
        "before": ("acme", "domain"),
        "form": ("acme", "domain"),
        "after": ("acme", "domain"),
        "group-page": ("globex", "group"),
        "contact": ("globex", "contact"),
        "explicit": ("acme", "account_id"),
    }
    assert got["form"]["action"] == "form_submit"
    jo = got["before"]["contact_id"]
    assert jo.startswith("e:")
    assert got["after"]["contact_id"] == jo

    unmatched = collect(
        settings,
        settings.topics.unmatched,
        lambda seen: (
            {"free-page", "new-page"} <= {u["event_id"].removeprefix("seg:") for u in seen}
        ),
    )
    why = {u["event_id"].removeprefix("seg:"): (u["reason"], u["domain"]) for u in unmatched}
    assert why["free-page"] == ("free_mail", None)
    assert why["new-page"] == ("unknown_domain", "newco-example.com")
    assert why["before"] == ("no_identity", None)  # reported while it waited
    assert "seg:stale" not in engagement(settings)  # ten days before its identify
    assert "seg:video" not in engagement(settings)
    assert "video" not in why

    letters = collect(
        settings,
        settings.topics.dead_letter,
        lambda seen: any(d["source_topic"] == settings.topics.segment for d in seen),
    )
    (letter,) = [d for d in letters if d["source_topic"] == settings.topics.segment]
    assert letter["reason"] == "invalid_payload"
    assert "messageId" in letter["error"]
    assert "[email]" in letter["value"]


def test_unmatched_business_domains_are_listed(worker):
    settings = worker.settings
    at = int(time.time() * 1000) - HOUR  # inside `abm unmatched`'s window of wall-clock days
    calls = [
        call(
            "identify", at, anonymousId=f"lead-{n}", traits={"email": f"p{n}@initrode-example.com"}
        )
        for n in range(3)
    ]
    calls += [call("page", at + n, anonymousId=f"lead-{n % 3}") for n in range(5)]
    calls.append(
        call(
            "page", at, anonymousId="solo", context={"company": {"domain": "umbrella-example.com"}}
        )
    )
    segment(settings, *calls)

    def listed() -> dict:
        done = abm("unmatched", "--json", "--days", "2", env=worker.env)
        assert done.returncode == 0, done.stderr
        return {d["domain"]: d for d in orjson.loads(done.stdout)["domains"]}

    rows = wait_until(lambda: "umbrella-example.com" in (found := listed()) and found, 60, "listed")
    assert [rows["initrode-example.com"][k] for k in ("events", "people")] == [5, 3]
    assert next(iter(rows)) == "initrode-example.com"  # busiest first
    assert rows["umbrella-example.com"]["people"] == 1

    def on_dashboard() -> list:
        url = f"http://127.0.0.1:{settings.web_port}/dashboard/data"
        with urllib.request.urlopen(url, timeout=5) as response:
            return [d["domain"] for d in orjson.loads(response.read())["unmatched"]["domains"]]

    shown = wait_until(lambda: "umbrella-example.com" in (d := on_dashboard()) and d, 30, "shown")
    assert shown[0] == "initrode-example.com"

    # Marketing adds the account the list named: its engagement until then is matched to
    # it, and the domain leaves the list (and the dashboard's).
    profile = {"account_id": "initrode", "name": "Initrode", "domain": "initrode-example.com"}
    send(settings, settings.topics.accounts, profile)
    pages = {c["messageId"] for c in calls if c["type"] == "page" and "context" not in c}
    got = matched_by(settings, pages)
    assert {(e["account_id"], e["match_method"]) for e in got.values()} == {("initrode", "domain")}
    assert len({e["contact_id"] for e in got.values()}) == 3  # its three people
    wait_until(lambda: "initrode-example.com" not in listed(), 30, "the domain unlisted")
    wait_until(lambda: "initrode-example.com" not in on_dashboard(), 30, "the dashboard's too")


def test_a_person_is_forgotten_by_address(worker):
    settings = worker.settings
    matched_by(settings, {"before", "after"})  # the first test's person, stitched
    done = abm("forget", "--email", "jo.smith@ACME.co.uk", env=worker.env)
    assert done.returncode == 0, done.stderr
    assert "of account acme: " in done.stdout
    assert " 0 in its state" not in done.stdout  # their engagement held them
    person = engagement(settings)["seg:before"]["contact_id"]

    def latest() -> dict:
        records = read_raw(settings, settings.changelog("people"))
        return {orjson.loads(k): v for k, v in records}

    gone = wait_until(
        lambda: (found := latest()).get(person, b"") is None and found,
        30,
        "the person's records deleted",
    )
    assert gone["anon-1"] is None  # the anonymous id they were seen with, too
    assert gone["anon-2"] is not None  # someone else
    refused = abm("forget", "--email", "not-an-address", env=worker.env)
    assert refused.returncode == 2
    assert "not an email address" in refused.stderr


def hostile_calls(n_random: int = 150) -> list[bytes]:
    """Calls no real client sends: broken, oversized, deep, of wrong types, and random
    mutations of a valid one."""
    page = call("page", T, anonymousId="h", traits={"email": "x@acme.com"})
    deep: dict = {}
    for _ in range(40):
        deep = {"a": deep}
    hand = [
        b"not json",
        b"",
        b"[1, 2]",
        b"null",
        b"\xff\xfe invalid utf-8 jo@acme.com",
        orjson.dumps({**page, "properties": {"pad": "x" * 70_000, "email": "big@acme.com"}}),
        orjson.dumps({**page, "context": deep}),
        orjson.dumps({k: v for k, v in page.items() if k != "type"}),
        orjson.dumps({**page, "type": "track"}),
        orjson.dumps({**page, "timestamp": "yesterday"}),
        orjson.dumps({**page, "userId": {"email": "jo@acme.com"}}),
        orjson.dumps({**page, "traits": "jo@acme.com"}),
        orjson.dumps({**page, "anonymousId": None}),
    ]
    rng = random.Random(35)
    values = [None, True, 0, -1, 1e308, "", "jo@acme.com", [], {}, "x" * 300, {"email": 5}]
    for _ in range(n_random):
        mutated = dict(page, messageId=f"m-{rng.random()}")
        for _ in range(rng.randint(1, 3)):
            name = rng.choice([*mutated, "context", "properties", "event", "groupId"])
            if rng.random() < 0.3:
                mutated.pop(name, None)
            else:
                mutated[name] = rng.choice(values)
        hand.append(orjson.dumps(mutated))
    return hand


def test_hostile_calls_are_dead_lettered_and_stop_nothing(worker):
    settings = worker.settings
    source = settings.sources.segment
    key = KEY.encode()
    records, expected, markers = [], 0, set()
    for n, value in enumerate(hostile_calls()):
        try:
            read_record(value, key, source)
        except Rejected:
            expected += 1
        marker = call(
            "page",
            T,
            messageId=f"ok-{n}",
            anonymousId=f"ok-{n}",
            context={"company": {"domain": "acme.com"}},
        )
        records += [Keyed(f"hostile-{n}".encode(), value), Keyed(b"ok", orjson.dumps(marker))]
        markers.add(f"ok-{n}")
    asyncio.run(produce(settings, settings.topics.segment, records))
    assert expected > 20  # the corpus does test refusals

    got = matched_by(settings, markers)
    assert {e["account_id"] for e in got.values()} == {"acme"}
    letters = collect(
        settings,
        settings.topics.dead_letter,
        lambda seen: sum((d["key"] or "").startswith("hostile-") for d in seen) >= expected,
    )
    mine = [d for d in letters if (d["key"] or "").startswith("hostile-")]
    assert len(mine) == expected
    for letter in mine:
        assert not ADDRESS.search(letter["value"])


def test_segment_s_python_sdk_through_abm_collect_lands_on_accounts(stack, worker):
    """The whole way, with a real client: SDK -> collector -> worker -> account."""
    settings = worker.settings
    collector = start_collector(
        stack, "matching-collect", (settings, worker.env), ABM_IDENTITY_KEY=KEY
    )
    try:
        errors: list[str] = []
        client = Client(
            SERVER_KEY,
            host=collector.url,
            max_retries=2,
            on_error=lambda error, batch: errors.append(f"{error}: {len(batch)} calls"),
        )
        at = datetime.now(UTC) - timedelta(hours=2)
        client.page(anonymous_id="sdk-anon", name="Pricing", timestamp=at)
        client.identify(
            "sdk-user", {"email": "ana@acme.com"}, anonymous_id="sdk-anon", timestamp=at
        )
        client.track("sdk-user", "Content Downloaded", {"asset": "guide"}, timestamp=at)
        client.identify("sdk-free", {"email": "ana@gmail.com"}, timestamp=at)
        client.track("sdk-free", "Form Submitted", timestamp=at)
        client.identify("sdk-new", {"email": "ana@hooli-example.com"}, timestamp=at)
        client.track("sdk-new", "Form Submitted", timestamp=at)
        client.flush()
        client.shutdown()
        assert errors == []
        sent = [  # the topic holds the hostile test's records too: only ours are JSON of this
            value
            for _, value in read_raw(settings, settings.topics.segment)
            if value and b'"userId":"sdk-' in value
        ]
        assert len(sent) == 6, sent  # all but the anonymous page
    finally:
        assert collector.stop() == 0, collector.log_text()

    landed = collect(
        settings,
        settings.topics.engagement,
        lambda seen: (
            sum(
                e.get("match_method") == "domain"
                and e["account_id"] == "acme"
                and e["action"] in ("page_view", "content_download")
                and e.get("contact_id") == contact_of("ana@acme.com", KEY.encode())
                for e in seen
            )
            >= 2
        ),
    )
    assert any(e["action"] == "content_download" for e in landed)
    collect(  # free mail and a domain no account claims: both unmatched, with the reason
        settings,
        settings.topics.unmatched,
        lambda seen: (
            {("free_mail", None), ("unknown_domain", "hooli-example.com")}
            <= {(u["reason"], u["domain"]) for u in seen if u["action"] == "form_submit"}
        ),
    )


def test_no_address_is_written_anywhere(worker):
    """Last: after every test above wrote what it could."""
    settings = worker.settings
    written = [t for t in settings.topics.all() if t != settings.topics.segment]
    written += settings.changelogs()
    for topic in written:
        for key, value in read_raw(settings, topic):
            text = (key or b"").decode() + (value or b"").decode()
            assert not ADDRESS.search(text), f"{topic}: {text}"
    assert redis_holds(settings, "@", match=f"{settings.redis_prefix}*") == []


def read_raw(settings, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    async def run():
        return [r async for r in read_topic(settings, topic, from_beginning=True, timeout_s=0.5)]

    return asyncio.run(run())
