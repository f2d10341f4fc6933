"""What `abm tune`'s tests share: the scalar decision a vectorised one must equal."""

from hypothesis import strategies as st

from streams.logic.rules import Rules
from streams.logic.signals.tiering import Signals
from streams.logic.state.windows import DAY_MS
from streams.tune.columns import Measured
from streams.tune.table import Run

__all__ = ["DAY0", "histories", "measured", "rule_sets", "signals_of"]

VALUES = [0.0, 10.0, 30.0, 50.0, 60.0, 70.0, 85.0, 100.0]
TOPICS = ["crm", "cdp", "erp", "payroll", "other"]
CLUSTERS = {"sales": ["crm", "cdp"], "ops": ["erp"]}
PERSONAS = ["decision_maker", "champion", "influencer", "user", "unknown"]

values = st.sampled_from(VALUES)
measured = st.builds(
    Measured,
    fit=st.none() | values,
    acv=st.sampled_from([0.0, 20_000.0, 50_000.0, 100_000.0]),
    topic_scores=st.dictionaries(st.sampled_from(TOPICS), values, max_size=4),
    engagement_points=values,
    engaged_contacts=st.integers(0, 4),
    personas=st.dictionaries(st.sampled_from(PERSONAS), st.integers(1, 3), max_size=4),
)
tier_rules = st.fixed_dictionaries(
    {
        "tier": st.integers(1, 3),
        "name": st.sampled_from(["a", "b", "c", "d"]),
        "min_fit": values,
        "min_acv": st.sampled_from([0.0, 20_000.0, 50_000.0]),
        "signals": st.lists(st.sampled_from(["intent", "engagement"]), max_size=2, unique=True),
        "match": st.sampled_from(["all", "any"]),
        "intent_clusters": st.lists(st.sampled_from([*CLUSTERS, "other"]), unique=True, max_size=2),
        "require_personas": st.lists(st.sampled_from(PERSONAS[:4]), unique=True, max_size=2),
        "min_personas": st.integers(0, 3),
    }
)
rule_sets = st.builds(
    lambda tiers, intent, points, contacts: Rules(
        tiers=tiers,
        intent={"clusters": CLUSTERS | {"other": ["other"]}},
        intent_min_score=intent,
        engagement_min_points=points,
        engagement_min_contacts=contacts,
    ),
    st.lists(tier_rules, min_size=1, max_size=4),
    values,
    st.sampled_from([5.0, 10.0, 30.0]),
    st.integers(1, 3),
)


def signals_of(row: Measured, rules: Rules) -> Signals:
    """What `tiering.measure` gives for these measurements under `rules`."""
    hot = sorted(t for t, score in row.topic_scores.items() if score >= rules.intent_min_score)
    reads_personas = any(rule.needs_personas for rule in rules.tiers)
    return Signals(
        fit=row.fit,
        acv=row.acv,
        intent_max=max(row.topic_scores.values(), default=0.0),
        intent_topics=tuple(hot),
        engagement_points=row.engagement_points,
        engaged_contacts=row.engaged_contacts,
        recent_intent=bool(hot),
        recent_engagement=row.engagement_points >= rules.engagement_min_points
        or row.engaged_contacts >= rules.engagement_min_contacts,
        due_at=None,
        personas=dict(row.personas) if reads_personas else None,
    )


DAY0 = 20_000
ACCOUNTS = [f"a{n}" for n in range(5)]


@st.composite
def histories(draw):
    """Each account's runs back to back from a day of its own, and its opportunities."""
    runs, created = [], {}
    for account in draw(st.lists(st.sampled_from(ACCOUNTS), unique=True, min_size=1)):
        day = DAY0 + draw(st.integers(0, 5))
        for _ in range(draw(st.integers(1, 4))):
            days = draw(st.integers(1, 6))
            runs.append(Run(account, day, days, draw(measured)))
            day += days
        at = st.integers(0, 40 * DAY_MS) | st.integers(0, 40).map(lambda d: d * DAY_MS)
        offsets = draw(st.lists(at, max_size=3))  # midnights: where a horizon ends
        created[account] = sorted(DAY0 * DAY_MS + o for o in offsets)
    return runs, created
