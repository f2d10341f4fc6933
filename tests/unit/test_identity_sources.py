"""Segment calls: no address survives redaction, any JSON is read or refused with a
reason, and people's waiting events are released once, within the stitching window."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.clients.produce_tail import BadLine, keyed_lines
from streams.logic.identity.directory import (
    Entry,
    Waiting,
    claim_profile,
    claim_roster,
    domains_of,
    keep,
    release,
)
from streams.logic.identity.match import Clues
from streams.logic.identity.people import DAY_MS, Person, learn, observe
from streams.logic.identity.prospects import Prospects
from streams.logic.identity.redact import ADDRESS, contact_of, redact
from streams.logic.identity.segment import Activity, BadCall, SegmentSource, read_call

KEY = b"k" * 32
SOURCE = SegmentSource()
addresses = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-zA-Z0-9._%+-]{1,12}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True),
    st.sampled_from(["com", "co.uk", "io"]),
)
texts = st.text(max_size=20) | addresses | addresses.map(lambda a: f"https://x.io/?e={a} ok")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | texts,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["email", "Email", "userId", "x", "traits"]), inner)
    ),
    max_leaves=20,
)


@given(
    call=st.dictionaries(
        st.sampled_from(["userId", "anonymousId", "traits", "context"]), json_values
    )
)
def test_no_address_survives_redaction(call):
    for key in (KEY, None):
        once = redact(call, key)
        assert not ADDRESS.search(orjson.dumps(once).decode())
        assert redact(once, key) == once  # idempotent


def test_an_email_field_becomes_its_domain_and_keyed_contact():
    out = redact({"userId": "Jo@Acme.co.uk", "traits": {"email": " jo@acme.CO.uk"}}, KEY)
    assert out["traits"] == {"email_domain": "acme.co.uk", "email_contact": out["userId"]}
    assert (
        out["userId"] == contact_of("jo@acme.co.uk", KEY) != contact_of("jo@acme.co.uk", b"o" * 32)
    )
    assert redact({"userId": "jo@acme.com", "traits": {"email": "jo@acme.com"}}, None) == {
        "traits": {"email_domain": "acme.com"}
    }


@given(call=json_values)
def test_any_json_is_read_or_refused_with_a_reason(call):
    try:
        read = read_call(call, SOURCE)
    except BadCall as exc:
        reason = str(exc)
        assert reason, "a refusal says why"
    else:
        assert read.event_id.startswith("seg:")
        assert read.person


def call(kind, **fields):
    return {
        "type": kind,
        "messageId": "m1",
        "anonymousId": "a1",
        "timestamp": 1_796_119_200_000,
        **fields,
    }


def test_the_mapping_decides_what_counts():
    page = read_call(
        call("page", properties={"duration": 30}, context={"campaign": {"name": "Q4 launch"}}),
        SOURCE,
    )
    assert page.activity == Activity("web", "page_view", 30.0, "Q4-launch")
    form = read_call(call("track", event="Form Submitted"), SOURCE)
    assert form.activity == Activity("web", "form_submit")
    other = read_call(call("track", event="Video Played"), SOURCE)
    assert other.activity is None
    assert other.unmapped == "Video Played"
    group = read_call(
        call("group", groupId="acme-1", traits={"website": "https://www.acme.com"}), SOURCE
    )
    assert group.clues == Clues(group_id="acme-1", group_domain="acme.com")
    assert group.activity is None
    ident = read_call(call("identify", userId="u1", traits={"email_domain": "acme.com"}), SOURCE)
    assert (ident.person, ident.others) == ("u1", ("a1",))
    assert ident.clues == Clues(contacts=("u1",), email_domain="acme.com")
    with pytest.raises(BadCall, match="timestamp"):
        read_call({k: v for k, v in call("page").items() if k != "timestamp"}, SOURCE)


times = st.lists(st.integers(0, 20 * DAY_MS), min_size=1, max_size=30)
events = times.flatmap(  # an event id always comes with its own time: a repeat is a redelivery
    lambda at: st.lists(st.sampled_from([(f"e{n}", t) for n, t in enumerate(at)]), min_size=1)
)


@given(events=events, link_at=st.integers(0, 25 * DAY_MS), limit=st.integers(1, 50))
def test_waiting_events_are_released_once_within_the_window(events, link_at, limit):
    source = SegmentSource(pending_max=limit)
    person = Person()
    activity = Activity("web", "page_view")
    for event_id, at in events:
        assert observe(person, event_id, at, activity, Clues(), source) is None
        person = Person.from_json(person.to_json())  # stored and read back between events
    released = learn(person, Clues(email_domain="acme.com"), link_at, source)
    ids = [r.event_id for r in released]
    assert len(ids) == len(set(ids)) <= limit
    newest = max(at for _, at in events)
    window = source.stitch_days * DAY_MS
    for r in released:
        assert r.at >= link_at - window
        assert r.at >= newest - window
    eligible = {i for i, at in events if at >= link_at - window and at >= newest - window}
    if len(eligible) <= limit:
        assert set(ids) == eligible
    assert learn(person, Clues(), link_at, source) == []  # released once
    later = observe(person, "late", link_at, activity, Clues(), source)
    assert later is not None
    assert later.clues == Clues(email_domain="acme.com")


@given(
    events=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 40 * DAY_MS)), max_size=40),
    days=st.integers(0, 35),
    limit=st.integers(0, 20),
)
def test_a_domain_keeps_its_recent_events_until_an_account_claims_it(events, days, limit):
    entry, times = Entry(), {}
    for n, at in events:
        times.setdefault(f"e{n}", at)  # an id always comes with its own time
        keep(
            entry, Waiting(f"e{n}", times[f"e{n}"], Activity("web", "page_view"), None), days, limit
        )
        entry = Entry.from_json(entry.to_json())
    kept = [w.event_id for w in entry.waiting]
    assert len(kept) == len(set(kept)) <= limit
    if kept:  # a window of `days` behind the newest kept
        at = [w.at for w in entry.waiting]
        assert min(at) >= max(at) - days * DAY_MS
        assert at == sorted(at)
    if limit and events:  # the newest event seen is never the one let go
        newest = max(times.values())
        assert newest in {w.at for w in entry.waiting}
    released = release(entry)
    assert [w.event_id for w in released] == kept
    assert entry.waiting == []


def test_the_directory_withdraws_what_an_account_no_longer_claims():
    entry = Entry()
    first = claim_profile(entry, "acme", domains_of("www.acme.com", ["acme.co.uk"]))
    assert (first.set, first.unset) == (("d:acme.com", "d:acme.co.uk"), ())
    second = claim_profile(entry, "acme", domains_of("acme.com", []))
    assert (second.set, second.unset) == (("d:acme.com",), ("d:acme.co.uk",))
    gone = claim_profile(entry, "acme", None)
    assert gone.unset == ("d:acme.com",)
    assert entry.account is None
    roster = claim_roster(entry, ("c1", "c2"))
    assert roster.set == ("c:c1", "c:c2")
    assert Entry.from_json(entry.to_json()) == entry


def test_a_crm_export_names_contacts_by_address_and_only_the_hash_is_sent():
    line = orjson.dumps(
        {
            "account_id": "acme",
            "updated_at": 1,
            "contacts": [{"email": "Jo@Acme.com", "title": "CFO"}, {"contact_id": "crm-1"}],
        }
    )
    (record,) = keyed_lines([line], rosters=True, identity_key=KEY)
    sent = orjson.loads(record.value)
    assert sent["contacts"] == [
        {"title": "CFO", "contact_id": contact_of("jo@acme.com", KEY)},
        {"contact_id": "crm-1"},
    ]
    assert b"@" not in record.value
    assert record.key == b"acme"
    with pytest.raises(BadLine, match="ABM_IDENTITY_KEY"):
        keyed_lines([line], rosters=True)
    bad = line.replace(b"Jo@Acme.com", b"jo-at-acme")
    with pytest.raises(BadLine, match="not an email address"):
        keyed_lines([bad], rosters=True, identity_key=KEY)
    assert keyed_lines([line])[0].value == line  # other topics: sent as they are


unmatched_rows = st.lists(
    st.tuples(
        st.sampled_from([f"e{n}" for n in range(40)]),
        st.sampled_from(["unknown_domain", "free_mail", "no_identity"]),
        st.sampled_from(["a.com", "b.com", "c.io"]),
        st.sampled_from(["p1", "p2", "p3", "p4"]),
        st.integers(0, 10 * DAY_MS),
    ),
    max_size=60,
)


@given(rows=unmatched_rows, since=st.integers(0, 10 * DAY_MS))
def test_prospects_count_each_event_once_per_trailing_window(rows, since):
    prospects = Prospects()
    first: dict[str, tuple] = {}
    for event_id, reason, domain, person, at in rows:
        domain = domain if reason == "unknown_domain" else None
        prospects.add(event_id, reason, domain, person, at)
        first.setdefault(event_id, (reason, domain, person, at))
    start = since - since % DAY_MS
    kept = [(d, p, at) for r, d, p, at in first.values() if at >= start and d is not None]
    want = {}
    for domain in {d for d, _, _ in kept}:
        mine = [(p, at) for d, p, at in kept if d == domain]
        times = [at for _, at in mine]
        want[domain] = (len(mine), len({p for p, _ in mine}), min(times), max(times))
    got = prospects.top(since)
    assert {p.domain: (p.events, p.people, p.first_seen, p.last_seen) for p in got} == want
    assert [p.events for p in got] == sorted((p.events for p in got), reverse=True)
    totals = prospects.totals(since)
    assert sum(totals.values()) == sum(1 for r in first.values() if r[3] >= start)
    prospects.forget_before(since)
    assert {p.domain: p.events for p in prospects.top(since)} == {d: w[0] for d, w in want.items()}
