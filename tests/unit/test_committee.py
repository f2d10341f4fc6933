"""The buying committee: persona rules, rosters (late, replaced, cleared, refused), tier
rules that ask for personas, and the committee an alert names."""

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.outputs import PERSONAS, DeadLetterReason
from streams.logic.inputs.decode import Rejected, decode_roster
from streams.logic.rules import PersonaRule, Rules, TierRule
from streams.logic.signals.committee import classify, persona_counts
from streams.logic.signals.tiering import measure
from streams.logic.state.roster import Roster, received
from tests.factories import DAY, T0, engagement, profile, replay, roster

RULES = Rules()
COMMITTEE_TIERS = [
    TierRule(tier=1, name="committee", min_fit=70, require_personas=["decision_maker"]),
    TierRule(tier=2, name="two-personas", min_fit=70, min_personas=2),
    TierRule(tier=3, name="fit", min_fit=70),
]
COMMITTEE = Rules(tiers=COMMITTEE_TIERS)
TITLES = [
    ("Chief Marketing Officer", None, "decision_maker"),
    ("VP, Revenue Operations", None, "decision_maker"),
    ("Senior Director of Demand Gen", None, "champion"),
    ("Marketing Ops Manager", None, "influencer"),
    ("Solutions Architect", None, "influencer"),
    ("Account Executive", None, "user"),
    ("Intern", "entry", "user"),
    (None, "C-Level", "decision_maker"),
    (None, "vice president", "user"),  # not a listed seniority, and no title
    ("Director of Sales", "vp", "decision_maker"),  # seniority decides before the title
]


@pytest.mark.parametrize(("title", "seniority", "persona"), TITLES)
def test_default_persona_rules(title, seniority, persona):
    assert classify(title, None, seniority, RULES) == persona


def test_title_keywords_are_whole_words_and_patterns_are_regexes():
    rules = Rules(
        personas=[
            PersonaRule(persona="decision_maker", titles=["cto"]),
            PersonaRule(persona="champion", title_patterns=[r"^dir(ector)?\b"]),
        ]
    )
    assert classify("CTO", None, None, rules) == "decision_maker"
    assert classify("Director", None, None, rules) == "champion"  # 'cto' is inside it
    assert classify("Dir. of IT", None, None, rules) == "champion"
    assert classify("Regional Director", None, None, rules) == "unknown"


def test_departments_narrow_a_rule_and_first_match_wins():
    rules = Rules(
        personas=[
            PersonaRule(persona="champion", titles=["manager"], departments=["Marketing Ops"]),
            PersonaRule(persona="user", titles=["manager"]),
        ]
    )
    assert classify("Manager", "marketing-ops", None, rules) == "champion"
    assert classify("Manager", "Finance", None, rules) == "user"
    assert classify("Manager", None, None, rules) == "user"


@pytest.mark.parametrize(
    ("persona", "error"),
    [
        ({"persona": "boss"}, "persona"),
        ({"persona": "user", "title_patterns": ["(unclosed"]}, "not a regex"),
        ({"persona": "user", "title": ["x"]}, "Extra inputs"),
    ],
)
def test_bad_persona_rules_are_refused_with_the_field_named(persona, error):
    with pytest.raises(ValidationError, match=error):
        Rules(personas=[persona])


PEOPLE = [(f"c{n}", title, seniority) for n, (title, seniority, _) in enumerate(TITLES)]
EXPECTED = {f"c{n}": persona for n, (_, _, persona) in enumerate(TITLES)}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 13), st.sampled_from([*EXPECTED, "stranger"])),
        min_size=1,
        max_size=25,
    ),
    st.data(),
)
def test_a_late_roster_counts_as_one_sent_first(engaged, data):
    """Contacts that engaged before their roster arrived are re-classified when it lands,
    with no event sent again: tier and persona counts equal those with the roster first."""
    events = [profile()] + [
        engagement(at=T0 + day * DAY, contact=contact, action="email_click")
        for day, contact in engaged
    ]
    the_roster = roster(contacts=PEOPLE, at=T0)
    late_at = data.draw(st.integers(1, len(events)))
    first, _, _ = replay([events[0], the_roster, *events[1:]], rules=COMMITTEE)
    rosters: dict = {}
    late, _, _ = replay(
        [*events[:late_at], the_roster, *events[late_at:]], rules=COMMITTEE, rosters=rosters
    )
    assert (late.tier, late.rule) == (first.tier, first.rule)
    now = late.clock
    assert (
        measure(late, COMMITTEE, now, rosters=rosters).personas
        == measure(first, COMMITTEE, now, rosters={"acme": rosters["acme"]}).personas
    )


@settings(max_examples=80, deadline=None)
@given(st.sets(st.sampled_from([*EXPECTED, "stranger"]), max_size=len(EXPECTED) + 1))
def test_tier_rules_that_ask_for_personas(engaged):
    """Against the spec: a decision maker engaged -> 1, else two known personas -> 2,
    else 3; a tier change's inputs carry the counts it was decided on."""
    rosters: dict = {}
    events = [profile(), roster(contacts=PEOPLE)] + [
        engagement(at=T0 + n, contact=c, action="email_click")
        for n, c in enumerate(sorted(engaged))
    ]
    state, changes, _ = replay(events, rules=COMMITTEE, rosters=rosters)
    personas = {EXPECTED.get(c, "unknown") for c in engaged}
    known = personas - {"unknown"}
    assert state.tier == (1 if "decision_maker" in known else 2 if len(known) >= 2 else 3)
    counts = {p: sum(EXPECTED.get(c, "unknown") == p for c in engaged) for p in PERSONAS}
    counts = {p: n for p, n in counts.items() if n}
    assert measure(state, COMMITTEE, state.clock, rosters=rosters).personas == counts
    last = changes[-1]
    assert sum(last.inputs.personas.values()) == last.inputs.engaged_contacts


def test_a_replaced_roster_and_a_tombstone_reclassify():
    rosters: dict = {}
    events = [
        profile(),
        roster(contacts=[("c1", "Chief Executive Officer", None)]),
        engagement(contact="c1", action="meeting"),
    ]
    state, changes, _ = replay(events, rules=COMMITTEE, rosters=rosters)
    assert (state.tier, changes[-1].inputs.personas) == (1, {"decision_maker": 1})
    demoted = roster(contacts=[("c1", "Analyst", None)], at=T0 + 1)
    state, changes, _ = replay([demoted], state, rules=COMMITTEE, rosters=rosters)
    assert [(c.tier, c.inputs.personas) for c in changes] == [(3, {"influencer": 1})]
    cleared = received(rosters["acme"], "acme", None, "abm.contacts.v1:0", 10**9, T0)
    assert cleared is not None
    assert cleared.contacts == {}
    assert persona_counts(["c1"], cleared, COMMITTEE) == {"unknown": 1}


def test_a_roster_record_applied_twice_is_a_duplicate():
    record = roster(contacts=[("c1", "VP Sales", None)])
    once = received(None, "acme", record, "t:0", 5, T0)
    assert once is not None
    assert received(once, "acme", record, "t:0", 5, T0) is None
    assert received(once, "acme", record, "t:0", 4, T0) is None
    assert received(once, "acme", record, "t:1", 4, T0) is not None  # another partition
    assert Roster.from_json(once.to_json()) == once


def _raw(contacts, account="acme"):
    payload = {"account_id": account, "contacts": contacts, "updated_at": T0}
    return orjson.dumps(payload)


@pytest.mark.parametrize(
    ("key", "value", "reason", "says"),
    [
        (b"other", _raw([]), DeadLetterReason.KEY_MISMATCH, "differs"),
        (
            b"acme",
            _raw([{"contact_id": f"c{n}"} for n in range(501)]),
            DeadLetterReason.INVALID_PAYLOAD,
            "at most 500",
        ),
        (
            b"acme",
            _raw([{"contact_id": "c1", "title": "x" * 201}]),
            DeadLetterReason.INVALID_PAYLOAD,
            "contacts.0.title",
        ),
        (
            b"acme",
            _raw([{"contact_id": "c1"}, {"contact_id": "c1"}]),
            DeadLetterReason.INVALID_PAYLOAD,
            "listed twice",
        ),
        (
            b"acme",
            _raw([{"contact_id": "c1", "email": "a@b.c"}]),
            DeadLetterReason.INVALID_PAYLOAD,
            "email",
        ),
        (b"not an id", None, DeadLetterReason.KEY_MISMATCH, "tombstone"),
        (None, None, DeadLetterReason.KEY_MISMATCH, "tombstone"),
    ],
)
def test_bad_rosters_are_refused_with_a_reason(key, value, reason, says):
    with pytest.raises(Rejected) as refused:
        decode_roster(key, value)
    assert refused.value.reason == reason
    assert says in refused.value.error


def test_a_tombstone_names_its_account_and_a_full_roster_fits():
    assert decode_roster(b"acme", None) == ("acme", None)
    people = [
        {"contact_id": f"contact-{n:04d}", "title": "Senior Marketing Operations Manager " * 5}
        for n in range(500)
    ]
    account, record = decode_roster(b"acme", _raw(people))
    assert (account, len(record.contacts)) == ("acme", 500)


def test_an_alert_names_the_committee_most_senior_first_and_never_an_email():
    people = [
        ("ae@acme.com", "Account Executive", None),
        ("c-dir", "Director of Marketing", "director"),
        ("c-cmo", "CMO", "c_level"),
        ("c-vp", "VP Marketing", "vp"),
        ("c-an", "Analyst", None),
    ]
    events = [profile(), roster(contacts=people)]
    for week in range(4):  # a quiet baseline, then a surge of engagement
        events.append(engagement(at=T0 + week * 7 * DAY, contact="c-an"))
    at = T0 + 4 * 7 * DAY
    for n, (contact, _, _) in enumerate([*people, ("c-new", None, None)]):
        events.append(engagement(at=at + n, contact=contact, action="email_open"))
    events.append(engagement(at=at + DAY, contact="c-an", action="meeting"))  # enters here
    _, _, alerts = replay(events)
    surge = next(a for a in alerts if a.kind == "engagement")
    assert [(m.persona, m.contact_id) for m in surge.committee] == [
        ("decision_maker", "c-cmo"),
        ("decision_maker", "c-vp"),
        ("champion", "c-dir"),
        ("influencer", "c-an"),
        ("user", None),
        ("unknown", "c-new"),
    ]
    assert surge.committee[0].title == "CMO"
    assert "@" not in orjson.dumps([m.model_dump() for m in surge.committee]).decode()
    assert surge.engaged_contacts == 6
    assert "ae@acme.com" not in surge.contacts  # counted, never named
