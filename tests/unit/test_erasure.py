"""Erasing a person: afterwards the account's stored state, roster and pending alerts do
not hold their id anywhere, and the account's figures are those of a history in which
the person's actions were never tied to anyone."""

import functools
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.outputs import SurgeAlert
from streams.clients.erasure import erasure_request
from streams.logic.kpis.kpis import contribution
from streams.logic.rules import Rules
from streams.logic.signals.aggregates import windows_of
from streams.logic.signals.tiering import measure
from streams.logic.state.erasure import (
    Erasures,
    MissingKey,
    digest,
    erase_contact,
    erase_from_roster,
    whose,
)
from streams.logic.state.roster import received
from streams.logic.state.state import OutboxEntry
from streams.sinks.webhook import WebhookSink
from streams.worker.agents.erasure import without_erased
from tests.factories import DAY, T0, engagement, intent, profile, replay, roster
from tests.unit.test_routes import change
from tests.unit.test_webhook import Letters, config, make_alert

RULES = Rules()
KEY = b"an-erasure-key-of-at-least-32-bytes"


def named(person: str) -> str:
    """How `abm forget` names a person on the erasure topic."""
    return f"h:{digest(person, KEY)}"


def erased_is(person: str):
    return whose(named(person), KEY)


PEOPLE = ["p1", "p2", "p3", "p-secret"]
SECRET = "p-secret"


@st.composite
def histories(draw):
    events = [profile()]
    for i in range(draw(st.integers(1, 50))):
        at = T0 + draw(st.integers(0, 30 * DAY))
        if draw(st.integers(0, 4)) == 0:
            events.append(intent(at=at, score=90.0, event_id=f"i{i}"))
            continue
        contact = draw(st.sampled_from(PEOPLE))
        action = draw(st.sampled_from(["page_view", "meeting", "ad_impression"]))
        tags = draw(st.sampled_from([{}, {"campaign_id": "abm-q3"}]))
        events.append(engagement(at=at, action=action, contact=contact, event_id=f"x{i}", **tags))
    return events


def anonymous(events):
    """The same history with the person's actions tied to no one."""
    return [
        e.model_copy(update={"contact_id": None}) if getattr(e, "contact_id", None) == SECRET else e
        for e in events
    ]


def _alert(account: str, people: list[str], tier: int = 1, at: int = T0, committee=None):
    """An engagement alert naming `people` (the committee: them as users, unless given)."""
    return SurgeAlert(
        alert_id=f"a-{account}",
        account_id=account,
        account_name=None,
        owner=None,
        kind="engagement",
        score=30.0,
        baseline=1.0,
        ratio=30.0,
        window="7d vs 4w mean",
        topics=[],
        tier=tier,
        engaged_contacts=len(people),
        contacts=people,
        committee=committee
        or [{"contact_id": p, "persona": "user", "title": None, "seniority": None} for p in people],
        top_channels=[],
        detected_at=at,
    )


def _with_pending_alert(state):
    """An alert waiting in the outbox that names the person (as one raised just before)."""
    committee = [
        {"contact_id": SECRET, "persona": "decision_maker", "title": "CRO", "seniority": None},
        {"contact_id": "p1", "persona": "user", "title": None, "seniority": None},
    ]
    alert = _alert(state.account_id, [SECRET, "p1"], state.tier, state.clock, committee)
    state.outbox.append(OutboxEntry.of_alert(alert))


@settings(max_examples=150, deadline=None)
@given(histories())
def test_after_erasure_nothing_holds_the_id_and_figures_are_anonymous(events):
    rosters = {}
    state, _, _ = replay(
        [*events, roster(contacts=[(SECRET, "CRO", None), ("p1", "VP", None)])],
        rules=RULES,
        rosters=rosters,
    )
    _with_pending_alert(state)
    erased = erased_is(SECRET)
    assert erase_contact(state, erased) >= 1
    kept = erase_from_roster(rosters.get("acme"), erased)
    assert kept is not None
    assert SECRET.encode() not in state.to_json()
    assert SECRET.encode() not in kept.to_json()
    assert set(kept.contacts) == {"p1"}
    pending = SurgeAlert.model_validate_json(state.outbox[-1].value)
    assert (pending.contacts, [m.contact_id for m in pending.committee]) == (["p1"], ["p1"])
    assert pending.engaged_contacts == 2  # a count, not an id

    never, _, _ = replay(anonymous(events), rules=RULES)

    def by_people(s):
        """The KPI counters counted from contacts (engaged people, campaigns' contacts)."""
        bag = contribution(s, RULES)
        return {k.split("|", 1)[1]: v for k, v in bag.items() if "contact" in k}

    assert by_people(state) == by_people(never)
    now = max(state.clock, never.clock)
    # through the windows the live path keeps (cached on the state, so they must be dropped)
    windows = windows_of(state, RULES, now)
    assert measure(state, RULES, now, windows) == measure(never, RULES, now)


@given(st.lists(st.from_regex(r"[A-Za-z0-9_.@+-]{1,40}", fullmatch=True), min_size=1))
def test_the_request_names_no_one_that_a_list_of_known_ids_could_find(people):
    """Keyed: without the key, hashing a list of known ids (emails, say) finds no one; a
    request made before the key (a plain SHA-256) is still honoured."""
    person = people[0]
    plain = {hashlib.sha256(p.encode()).hexdigest() for p in people}
    assert named(person)[2:] not in plain
    assert erased_is(person)(person)
    assert whose(f"s:{hashlib.sha256(person.encode()).hexdigest()}", KEY)(person)
    assert all(not erased_is(person)(p) for p in people if p != person)


def test_a_person_named_by_hmac_cannot_be_matched_without_the_key():
    with pytest.raises(MissingKey, match="ABM_ERASURE_KEY"):
        whose(named(SECRET), None)
    with pytest.raises(MissingKey):
        Erasures(None).add("acme", named(SECRET))
    with pytest.raises(MissingKey):
        erasure_request("acme", SECRET, None)
    assert erasure_request("acme", None, None).person() is None
    request = erasure_request("acme", SECRET, KEY)
    assert request.person() == named(SECRET)
    assert SECRET not in request.model_dump_json()


def test_a_roster_without_the_person_is_left_alone():
    current = received(None, "acme", None, "abm.contacts.v1:0", 1, T0)
    assert erase_from_roster(current, erased_is(SECRET)) is None
    assert erase_from_roster(None, erased_is(SECRET)) is None


ACCOUNTS = ["a1", "a2", "a3"]
requests = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.none() | st.sampled_from(PEOPLE)), max_size=6
)


@settings(max_examples=300, deadline=None)
@given(
    requests,
    st.sampled_from(ACCOUNTS),
    st.lists(st.sampled_from(PEOPLE), unique=True, max_size=4),
    st.booleans(),
)
def test_a_view_never_writes_what_an_erasure_read_so_far_concerns(asked, account, people, held):
    """Against a plain reading of the requests: a whole-account erasure drops the
    account's outputs unless the view holds a state of it (made after the erasure); an
    erased person is scrubbed from an alert, and from nothing else."""
    erasures = Erasures(KEY)
    for account_id, person in asked:
        erasures.add(account_id, None if person is None else named(person))
    alert = _alert(account, people)
    whole = (account, None) in asked
    gone_people = {p for a, p in asked if a == account and p is not None}

    kept = erasures.alert(alert, held)
    assert erasures.dropped(account, held) == (whole and not held)
    if whole and not held:
        assert kept is None
    else:
        assert kept is not None
        assert kept.contacts == [p for p in people if p not in gone_people]
        assert [m.contact_id for m in kept.committee] == kept.contacts
        assert kept.engaged_contacts == len(people)  # a count, not an id
        assert (kept is alert) == (not gone_people & set(people))
    assert erasures.gone(alert, held) == (kept is not alert)
    assert erasures.concerns(account) == any(a == account for a, _ in asked)


@settings(max_examples=100, deadline=None)
@given(histories(), requests)
def test_a_state_written_by_the_view_holds_no_erased_person(events, asked):
    state, _, _ = replay(events, rules=RULES)
    erasures = Erasures(KEY)
    for account_id, person in asked:
        erasures.add(
            account_id.replace("a1", state.account_id), None if person is None else named(person)
        )
    erasures.scrub_state(state)
    erased = {p for a, p in asked if a == "a1" and p is not None}
    raw = state.to_json()
    assert not any(p.encode() in raw for p in erased)
    for person in set(PEOPLE) - erased:  # the others are left as they were
        assert (person.encode() in raw) == (
            person.encode() in replay(events, rules=RULES)[0].to_json()
        )


@pytest.mark.parametrize("whole", [False, True])
def test_an_erasure_rewrites_what_waits_in_a_route_s_queue(whole):
    """Queued deliveries name no erased person afterwards: an alert loses them from its
    evidence, an account erased whole leaves the queue (as done), others stay in order."""
    done: list[str] = []
    sink = WebhookSink(
        config("http://127.0.0.1:1/hook"),
        Letters(),
        settled=lambda _r, i: done.append(i.account_id),
    )
    tier_change = change()
    queued = [make_alert("acme", 0), make_alert("other", 1), tier_change]
    for item in queued:
        assert sink.offer(item)
    erased = None if whole else erased_is("a")
    changed = sink.rewrite(functools.partial(without_erased, "acme", erased))
    left = []
    while not sink.queue.empty():
        left.append(sink.queue.get_nowait())
    if whole:
        assert (changed, [i.account_id for i in left], done) == (2, ["other"], ["acme", "acme"])
    else:
        assert changed == 1
        assert [i.account_id for i in left] == ["acme", "other", "acme"]
        assert left[0].contacts == ["b", "c"]
        assert [m.contact_id for m in left[0].committee] == [None]
        assert left[1] is queued[1]
        assert left[2] is tier_change
