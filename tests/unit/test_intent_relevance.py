"""Intent relevance: a topic catalogue (clusters), provider weights, only_listed, a
minimum of surging topics per cluster, and tier rules that name clusters. Properties over
generated intent histories, replayed event by event as the agents apply them."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.rules import Rules
from streams.logic.signals.aggregates import aggregate
from streams.logic.state.state import AccountState
from tests.factories import DAY, T0, intent, profile, replay

START = T0 // DAY * DAY
ABM = ["abm software", "account based marketing"]
CRM = ["crm software", "sales crm"]
UNLISTED = ["coffee machines", "office chairs"]
CATALOGUE = {"clusters": {"abm": ABM, "crm": CRM}}


def rules(**intent_rules) -> Rules:
    return Rules.model_validate({"intent": {**CATALOGUE, **intent_rules}})


signal = st.tuples(
    st.integers(0, 55 * 1440),  # minute of the history
    st.sampled_from(ABM + CRM + UNLISTED),
    st.integers(0, 100),  # score
    st.sampled_from(["bombora", "g2", "first_party"]),
)
histories = st.lists(signal, min_size=1, max_size=60)


def events(history, fit=85.0):
    return [profile(fit=fit)] + [
        intent(at=START + minute * 60_000, topic=topic, score=score, provider=provider)
        for minute, topic, score, provider in sorted(history)
    ]


def decisions(history, with_rules, ticks=True):
    state, changes, alerts = replay(events(history), rules=with_rules, ticks=ticks)
    tiers = [(c.tier, c.rule, c.changed_at) for c in changes]
    said = [(a.alert_id, a.cluster, [t.topic for t in a.topics]) for a in alerts]
    return state, tiers, said


def rescored(history, topics, score):
    """The same events at the same moments, the `topics`' scores replaced.

    The properties below compare decisions made at the same moments: an account is
    evaluated at each of its events and ticks, and time passing alone can start a surge
    (a week of data moving into the baseline), so a surge that starts between two
    evaluations is seen at the next one. Ticks come while any surge of the account is
    open, so they are left out here: what is compared is the logic, not the timing."""
    return [(m, t, score if t in topics else s, p) for m, t, s, p in history]


@settings(max_examples=60, deadline=None)
@given(histories, st.integers(0, 100))
def test_an_unlisted_topic_never_changes_a_tier_or_raises_an_alert(history, score):
    only_listed = rules(only_listed=True)
    state, tiers, said = decisions(history, only_listed, ticks=False)
    other = rescored(history, UNLISTED, score)
    _, tiers_other, said_other = decisions(other, only_listed, ticks=False)
    assert tiers == tiers_other
    assert said == said_other
    assert all(cluster is not None for _, cluster, _ in said)
    # ... and is kept in state all the same (within retention), for a later catalogue
    last = max(m for m, _, _, _ in history)
    recent = {t for m, t, _, _ in history if t in UNLISTED and last - m < 20 * 1440}
    assert recent <= set(state.intent)


@settings(max_examples=60, deadline=None)
@given(histories, st.integers(0, 100))
def test_cluster_episodes_are_independent(history, score):
    """What one cluster alerts does not depend on another cluster's intent."""
    catalogue = rules(only_listed=True)
    _, _, said = decisions(history, catalogue, ticks=False)
    for cluster, others in (("abm", CRM), ("crm", ABM)):
        _, _, said_other = decisions(rescored(history, others, score), catalogue, ticks=False)
        mine = [a for a in said if a[1] == cluster]
        assert mine == [a for a in said_other if a[1] == cluster]


@settings(max_examples=60, deadline=None)
@given(histories, st.floats(0.1, 3.0))
def test_a_weight_scores_as_if_the_provider_had_said_the_weighted_score(history, weight):
    weighted = rules(providers={"bombora": weight})
    plain = rules()
    scaled = [
        (minute, topic, min(100.0, score * weight), "plain") if provider == "bombora" else s
        for s in history
        for minute, topic, score, provider in [s]
    ]
    _, tiers, said = decisions(history, weighted)
    _, tiers_scaled, said_scaled = decisions(scaled, plain)
    assert tiers == tiers_scaled
    assert said == said_scaled


@settings(max_examples=60, deadline=None)
@given(histories, st.integers(1, 2))  # each cluster has 2 topics: 3 is refused (test_config)
def test_a_cluster_alerts_only_with_enough_surging_topics(history, needed):
    _, _, said = decisions(history, rules(only_listed=True, min_surging_topics=needed))
    assert all(len(topics) >= needed for _, _, topics in said)


def test_two_topics_of_a_cluster_surge_together_where_one_does_not():
    two = rules(only_listed=True, min_surging_topics=2)
    one_topic = [(40 * 1440, "abm software", 95, "g2")]
    both = [
        (40 * 1440, "abm software", 80, "g2"),
        (40 * 1440 + 1, "account based marketing", 75, "bombora"),
    ]
    assert decisions(one_topic, two)[2] == []
    ((_, cluster, topics),) = decisions(both, two)[2]
    assert cluster == "abm"
    assert sorted(topics) == sorted(ABM)


def test_the_evidence_names_the_provider_and_the_day():
    history = [(40 * 1440, "crm software", 50, "g2"), (41 * 1440, "crm software", 90, "bombora")]
    _, _, alerts = replay(events(history), rules=rules(only_listed=True), ticks=True)
    (alert,) = alerts
    (topic,) = alert.topics
    assert (topic.provider, topic.seen_on.isoformat()) == (
        "bombora",
        orjson.loads(orjson.dumps(alert.detected_at))[:10],
    )


def test_a_second_cluster_surging_during_the_first_raises_its_own_alert():
    history = [(40 * 1440, "abm software", 90, "g2"), (41 * 1440, "crm software", 90, "g2")]
    _, _, said = decisions(history, rules(only_listed=True))
    assert [cluster for _, cluster, _ in said] == ["abm", "crm"]


def test_a_tier_rule_can_ask_for_intent_in_named_clusters():
    tiers = [
        {"tier": 1, "name": "abm-intent", "signals": ["intent"], "intent_clusters": ["abm"]},
        {"tier": 2, "name": "any-intent", "signals": ["intent"]},
    ]
    catalogue = Rules.model_validate({"intent": CATALOGUE, "tiers": tiers})
    crm_only = decisions([(40 * 1440, "crm software", 80, "g2")], catalogue)[1]
    abm = decisions([(40 * 1440, "abm software", 80, "g2")], catalogue)[1]
    assert [t[:2] for t in crm_only] == [(2, "any-intent")]
    assert [t[:2] for t in abm] == [(1, "abm-intent")]


def test_a_state_stored_before_providers_were_kept_still_reads():
    stored = AccountState(account_id="acme").to_json()
    old = orjson.loads(stored)
    old["intent"] = {"crm": {"20000": 70.0}}
    state = AccountState.from_json(orjson.dumps(old))
    assert state.intent == {"crm": {"": {20000: 70.0}}}


@settings(max_examples=60, deadline=None)
@given(histories, st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.booleans())
def test_windows_kept_event_by_event_equal_windows_recomputed(history, weight, only_listed):
    """The windows moved by each event (live) equal those a restart or a replay computes
    from the state: weights (0 included), the catalogue and spellings applied alike."""
    catalogue = rules(only_listed=only_listed, providers={"g2": weight})
    spelt = [(m, t.upper() if m % 2 else t, s, p) for m, t, s, p in history]
    state, _, _ = replay(events(spelt), rules=catalogue, ticks=True)
    kept = state.windows
    fresh = aggregate(state, catalogue, state.clock)
    assert kept.today == fresh.today
    assert (kept.highs, kept.topic_max, kept.week_top) == (
        fresh.highs,
        fresh.topic_max,
        fresh.week_top,
    )
    assert kept.by_cluster == fresh.by_cluster


def test_two_spellings_of_a_topic_are_one_topic_with_a_catalogue():
    two = Rules.model_validate(
        {"intent": {"clusters": {"crm": ["crm software", "sales crm"]}, "min_surging_topics": 2}}
    )
    history = [
        (40 * 1440, "CRM Software", 80, "bombora"),
        (40 * 1440 + 1, "crm software ", 75, "g2"),
    ]
    assert decisions(history, two)[2] == []
    history.append((40 * 1440 + 2, "Sales CRM", 70, "g2"))
    ((_, cluster, topics),) = decisions(history, two)[2]
    assert (cluster, sorted(topics)) == ("crm", ["crm software", "sales crm"])


def test_a_cluster_taken_out_of_the_catalogue_closes_its_open_surge():
    history = [(40 * 1440, "abm software", 90, "g2")]
    state, _, said = decisions(history, rules(only_listed=True))
    assert [cluster for _, cluster, _ in said] == ["abm"]
    assert state.surges["intent:abm"].active
    without = Rules.model_validate({"intent": {"clusters": {"crm": CRM}, "only_listed": True}})
    replay([intent(at=START + 40 * DAY + 60_000, topic="crm software", score=1)], state, without)
    assert not state.surges["intent:abm"].active
