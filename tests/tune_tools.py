"""What `abm tune`'s tests share: the scalar decision a vectorised one must equal."""

from streams.logic.rules import Rules
from streams.logic.signals.tiering import Signals
from streams.tune.columns import Measured

__all__ = ["signals_of"]


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
