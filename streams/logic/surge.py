"""Surge detection (design.md section 5): this week against the account's own trailing weeks.

`read_*` judge an account's windows at a moment (aggregates.py); `step` moves its per-kind
episode through enter -> (stay) -> exit with hysteresis and a cool-down, and says when to
alert.
Everything is a function of event time, so a replay raises the same alerts.
"""

from dataclasses import dataclass

from streams.config import SurgeRules
from streams.logic.state import SurgeEpisode
from streams.logic.windows import DAY_MS

__all__ = [
    "Reading",
    "TopicReading",
    "read_engagement",
    "read_intent",
    "step",
    "strength",
]


@dataclass(slots=True)
class TopicReading:
    topic: str
    score: float
    baseline: float
    ratio: float | None
    """None when the baseline is 0: the topic is new, not infinitely hot."""


@dataclass(slots=True)
class Reading:
    """One kind of signal at one moment: is it surging now, and is it still above exit?"""

    kind: str
    enter: bool
    stay: bool
    score: float
    baseline: float
    ratio: float | None
    topics: tuple[TopicReading, ...] = ()


def _ratio(score: float, baseline: float) -> float | None:
    return score / baseline if baseline > 0 else None


def _above(score: float, baseline: float, ratio: float, floor: float) -> bool:
    return score >= floor and score >= ratio * baseline


def read_intent(highs: dict[str, list[float]], rules: SurgeRules) -> Reading:
    """Per topic (`highs`: its weekly highs, this week first): this week's highest score
    against the mean of the weekly highs before it."""
    weeks = rules.baseline_weeks
    entering = False
    staying = []
    for topic, weekly in highs.items():
        score, baseline = weekly[0], sum(weekly[1:]) / weeks
        known = baseline > 0  # a topic seen for the first time surges on score alone
        if score >= rules.intent_enter_score or (
            known and _above(score, baseline, rules.intent_enter_ratio, rules.intent_min_score)
        ):
            entering = True
        if score >= rules.intent_exit_score or (
            known and _above(score, baseline, rules.intent_exit_ratio, rules.intent_min_score)
        ):
            staying.append(TopicReading(topic, score, baseline, _ratio(score, baseline)))
    top = sorted(staying, key=lambda r: (-r.score, r.topic))
    best = top[0] if top else TopicReading("", 0.0, 0.0, None)
    return Reading(
        "intent", entering, bool(staying), best.score, best.baseline, best.ratio, tuple(top)
    )


def read_engagement(week: float, before: float, rules: SurgeRules) -> Reading:
    """Points in the last 7 days (`week`) against the weekly mean of the weeks `before`."""
    baseline = before / rules.baseline_weeks
    return Reading(
        "engagement",
        enter=_above(week, baseline, rules.engagement_enter_ratio, rules.engagement_min_points),
        stay=_above(week, baseline, rules.engagement_exit_ratio, rules.engagement_exit_min_points),
        score=week,
        baseline=baseline,
        ratio=_ratio(week, baseline),
    )


def step(
    episode: SurgeEpisode, reading: Reading, now: int, rules: SurgeRules, *, may_alert: bool = True
) -> bool:
    """Advance one kind's episode; True when this moment deserves an alert.

    Entering needs the enter threshold; leaving needs falling below the exit one. An
    entry within the cool-down of the last alert is a surge all the same (it shows in
    the view) but raises no new alert.
    """
    if episode.active:
        if not reading.stay:
            episode.active = False
        return False
    if not reading.enter:
        return False
    episode.active = True
    episode.entered_at = now
    cooled = may_alert and (
        episode.last_alert_at is None or now - episode.last_alert_at >= rules.cooldown_days * DAY_MS
    )
    if cooled:
        episode.last_alert_at = now
    return cooled


def strength(reading: Reading, rules: SurgeRules) -> float:
    """How far above its enter threshold a reading is (1.0 = at it): one scale for both kinds,
    so sales can rank intent and engagement surges in one list."""
    if reading.kind == "intent":
        by_ratio = (reading.ratio or 0.0) / rules.intent_enter_ratio
        return max(reading.score / rules.intent_enter_score, by_ratio)
    needed = max(rules.engagement_enter_ratio * reading.baseline, rules.engagement_min_points)
    return reading.score / needed
