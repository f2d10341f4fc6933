"""Surge detection: this week against the account's own trailing weeks.

`read_*` judge an account's windows at a moment (aggregates.py), and `*_enters` / `*_stays`
answer the only question most moments ask without building a reading; an episode goes
enter -> (stay) -> exit with hysteresis, and `enter` applies the cool-down and says when to
alert.
Everything is a function of event time, so a replay raises the same alerts.
"""

from collections.abc import Callable
from dataclasses import dataclass

from streams.logic.rules import SurgeRules
from streams.logic.state.state import SurgeEpisode
from streams.logic.state.windows import DAY_MS

__all__ = [
    "Reading",
    "TopicReading",
    "engagement_enters",
    "engagement_stays",
    "enter",
    "intent_enters",
    "intent_stays",
    "read_engagement",
    "read_intent",
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


def _baseline(weekly: list[float], weeks: int) -> float:
    """The mean of the weekly highs before this week (`weekly[0]`)."""
    total = 0.0
    for n in range(1, len(weekly)):
        total += weekly[n]
    return total / weeks


def _topic_enters(score: float, baseline: float, rules: SurgeRules) -> bool:
    # A topic seen for the first time (no baseline) surges on score alone.
    return score >= rules.intent_enter_score or (
        baseline > 0 and _above(score, baseline, rules.intent_enter_ratio, rules.intent_min_score)
    )


def _topic_stays(score: float, baseline: float, rules: SurgeRules) -> bool:
    return score >= rules.intent_exit_score or (
        baseline > 0 and _above(score, baseline, rules.intent_exit_ratio, rules.intent_min_score)
    )


def _enough_topics(
    highs: dict[str, list[float]],
    rules: SurgeRules,
    holds: Callable[[float, float, SurgeRules], bool],
    needed: int,
) -> bool:
    weeks = rules.baseline_weeks
    found = 0
    for weekly in highs.values():
        if holds(weekly[0], _baseline(weekly, weeks), rules):
            found += 1
            if found >= needed:
                return True
    return False


def intent_enters(highs: dict[str, list[float]], rules: SurgeRules, needed: int = 1) -> bool:
    """`read_intent(...).enter` without building the reading: most evaluations only ask."""
    return _enough_topics(highs, rules, _topic_enters, needed)


def intent_stays(highs: dict[str, list[float]], rules: SurgeRules, needed: int = 1) -> bool:
    """`read_intent(...).stay`, without building the reading."""
    return _enough_topics(highs, rules, _topic_stays, needed)


def read_intent(highs: dict[str, list[float]], rules: SurgeRules, needed: int = 1) -> Reading:
    """Per topic (`highs`: its weekly highs, this week first): this week's highest score
    against the mean of the weekly highs before it. The topics surge together once
    `needed` of them are above the enter threshold, and stay while `needed` are above
    the exit one."""
    weeks = rules.baseline_weeks
    entering = 0
    staying = []
    for topic, weekly in highs.items():
        score, baseline = weekly[0], _baseline(weekly, weeks)
        if _topic_enters(score, baseline, rules):
            entering += 1
        if _topic_stays(score, baseline, rules):
            staying.append(TopicReading(topic, score, baseline, _ratio(score, baseline)))
    top = sorted(staying, key=lambda r: (-r.score, r.topic))
    best = top[0] if top else TopicReading("", 0.0, 0.0, None)
    return Reading(
        "intent",
        entering >= needed,
        len(staying) >= needed,
        best.score,
        best.baseline,
        best.ratio,
        tuple(top),
    )


def engagement_enters(week: float, before: float, rules: SurgeRules) -> bool:
    baseline = before / rules.baseline_weeks
    return _above(week, baseline, rules.engagement_enter_ratio, rules.engagement_min_points)


def engagement_stays(week: float, before: float, rules: SurgeRules) -> bool:
    baseline = before / rules.baseline_weeks
    return _above(week, baseline, rules.engagement_exit_ratio, rules.engagement_exit_min_points)


def read_engagement(week: float, before: float, rules: SurgeRules) -> Reading:
    """Points in the last 7 days (`week`) against the weekly mean of the weeks `before`."""
    baseline = before / rules.baseline_weeks
    return Reading(
        "engagement",
        enter=engagement_enters(week, before, rules),
        stay=engagement_stays(week, before, rules),
        score=week,
        baseline=baseline,
        ratio=_ratio(week, baseline),
    )


def enter(episode: SurgeEpisode, now: int, rules: SurgeRules, *, may_alert: bool = True) -> bool:
    """Open an episode whose reading entered; True when this moment deserves an alert.

    Entering needs the enter threshold; leaving (the caller, when a reading no longer
    stays) needs falling below the exit one. An entry within the cool-down of the last
    alert is a surge all the same (it shows in the view) but raises no new alert.
    """
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
