"""Erasing a person: afterwards the account's stored state, roster and pending alerts do
not hold their id anywhere, and the account's figures are those of a history in which
the person's actions were never tied to anyone."""

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.outputs import SurgeAlert
from streams.logic.aggregates import windows_of
from streams.logic.erasure import digest, erase_contact, erase_from_roster, whose
from streams.logic.kpis import contribution
from streams.logic.roster import received
from streams.logic.rules import Rules
from streams.logic.state import SURGE_ALERT
from streams.logic.tiering import measure
from tests.factories import DAY, T0, engagement, intent, profile, replay, roster

RULES = Rules()
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


def _with_pending_alert(state):
    """An alert waiting in the outbox that names the person (as one raised just before)."""
    alert = SurgeAlert(
        alert_id="a1",
        account_id=state.account_id,
        account_name=None,
        owner=None,
        kind="engagement",
        score=30.0,
        baseline=1.0,
        ratio=30.0,
        window="7d vs 4w mean",
        topics=[],
        tier=state.tier,
        engaged_contacts=2,
        contacts=[SECRET, "p1"],
        committee=[
            {"contact_id": SECRET, "persona": "decision_maker", "title": "CRO", "seniority": None},
            {"contact_id": "p1", "persona": "user", "title": None, "seniority": None},
        ],
        top_channels=[],
        detected_at=state.clock,
    )
    state.outbox.append(["a:a1", SURGE_ALERT, alert.model_dump_json()])


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
    erased = whose(digest(SECRET))
    assert erase_contact(state, erased) >= 1
    kept = erase_from_roster(rosters.get("acme"), erased)
    assert kept is not None
    assert SECRET.encode() not in state.to_json()
    assert SECRET.encode() not in kept.to_json()
    assert set(kept.contacts) == {"p1"}
    pending = SurgeAlert.model_validate_json(state.outbox[-1][2])
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


def test_the_request_names_no_one():
    assert SECRET not in digest(SECRET)
    assert whose(digest(SECRET))(SECRET)
    assert not whose(digest(SECRET))("p1")


def test_a_roster_without_the_person_is_left_alone():
    current = received(None, "acme", None, "abm.contacts.v1:0", 1, T0)
    assert erase_from_roster(current, whose(digest(SECRET))) is None
    assert erase_from_roster(None, whose(digest(SECRET))) is None
