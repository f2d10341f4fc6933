"""The tier table applied to many measurements at once: what `abm tune` scores each
candidate rule set with, without replaying.

A candidate changes thresholds, not what is measured. So the measurements are kept raw:
the highest score of each intent cluster (not the topics above today's threshold), the
engagement points and contacts (not whether they are "recent"), the engaged contacts
per persona. Given a rule set, `decide_all` reads them as `tiering.decide` reads one
account's `Signals`, first matching rule first, in a handful of numpy operations per
rule, and gives the same tier and rule for every row (a property test holds it to that).
"""

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.logic.rules import IMPLICIT_CLUSTER, Rules, TierRule
from streams.logic.signals.catalogue import catalogue
from streams.logic.signals.committee import UNKNOWN

__all__ = ["UNTIERED", "Columns", "Measured", "Memo", "decide_all"]

UNTIERED = -1
"""The rule index of a row no rule matched (tier 0)."""

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Measured:
    """One account at one moment, raw: what `tiering.measure` reads before any threshold."""

    fit: float | None
    acv: float
    topic_scores: Mapping[str, float]
    """Each counted topic's highest (weighted) score in the intent window."""
    engagement_points: float
    engaged_contacts: int
    personas: Mapping[str, int]
    """Engaged contacts per persona in the engagement window (`unknown` included)."""


@dataclass(frozen=True, slots=True)
class Columns:
    """Measurements as columns, a row each; `clusters` keyed by cluster name (the
    implicit one holds topics in no named cluster)."""

    fit: Floats
    """NaN where the account has no fit (no profile): no rule matches it."""
    acv: Floats
    intent_max: Floats
    """The highest score of a topic that counts; -inf with none."""
    clusters: dict[str, Floats]
    engagement_points: Floats
    engaged_contacts: Ints
    personas: dict[str, Ints]

    def __len__(self) -> int:
        return len(self.fit)

    def take(self, rows: npt.NDArray[np.bool_]) -> "Columns":
        """Only these rows."""
        return Columns(
            fit=self.fit[rows],
            acv=self.acv[rows],
            intent_max=self.intent_max[rows],
            clusters={name: values[rows] for name, values in self.clusters.items()},
            engagement_points=self.engagement_points[rows],
            engaged_contacts=self.engaged_contacts[rows],
            personas={name: values[rows] for name, values in self.personas.items()},
        )

    @classmethod
    def of(cls, rows: Sequence[Measured], rules: Rules) -> "Columns":
        """Rows as columns, each topic's score filed under the clusters `rules` put it
        in (a topic that counts in none raises no cluster's maximum)."""
        cat = catalogue(rules.intent)
        names = [IMPLICIT_CLUSTER, *rules.intent.clusters]
        # -inf where no topic counts: a threshold of 0 is still a topic at or above it.
        clusters = {name: np.full(len(rows), -np.inf) for name in names}
        intent_max = np.full(len(rows), -np.inf)
        for i, row in enumerate(rows):
            for topic, score in row.topic_scores.items():
                intent_max[i] = max(intent_max[i], score)
                for cluster in cat.clusters_of(topic):
                    clusters[cluster][i] = max(clusters[cluster][i], score)
        personas = {
            p: np.array([r.personas.get(p, 0) for r in rows], dtype=np.int64)
            for p in sorted({p for r in rows for p in r.personas})
        }
        return cls(
            fit=np.array([np.nan if r.fit is None else r.fit for r in rows], dtype=np.float64),
            acv=np.array([r.acv for r in rows], dtype=np.float64),
            intent_max=intent_max,
            clusters=clusters,
            engagement_points=np.array([r.engagement_points for r in rows], dtype=np.float64),
            engaged_contacts=np.array([r.engaged_contacts for r in rows], dtype=np.int64),
            personas=personas,
        )


Bools = npt.NDArray[np.bool_]


class Memo:
    """Row masks a search computes over and over, kept: a candidate differs from the last
    in one threshold, so most of its comparisons were made before. Bounded (a mask is a
    byte a row): when full, it starts again."""

    LIMIT = 128

    def __init__(self) -> None:
        self.masks: dict[Hashable, Bools] = {}

    def get(self, key: Hashable, make: Callable[[], Bools]) -> Bools:
        mask = self.masks.get(key)
        if mask is None:
            if len(self.masks) >= self.LIMIT:
                self.masks.clear()
            mask = self.masks[key] = make()
        return mask


def _recent_intent(rule: TierRule, c: Columns, threshold: float) -> npt.NDArray[np.bool_]:
    """A topic that counts at or above the threshold: any, or with `intent_clusters`, one
    in those clusters (a topic's score is its cluster's maximum or below it)."""
    if not rule.intent_clusters:
        return c.intent_max >= threshold
    highest = np.maximum.reduce([c.clusters[name] for name in rule.intent_clusters])
    return np.asarray(highest >= threshold)


def _committee(rule: TierRule, c: Columns) -> npt.NDArray[np.bool_]:
    """The personas the rule asks for engaged, and at least `min_personas` known ones."""
    none = np.zeros(len(c), dtype=np.int64)
    engaged = {p: c.personas.get(p, none) > 0 for p in {*c.personas, *rule.require_personas}}
    ok = np.ones(len(c), dtype=np.bool_)
    for persona in rule.require_personas:
        ok &= engaged[persona]
    known = sum((n.astype(np.int64) for p, n in engaged.items() if p != UNKNOWN), none)
    return ok & (known >= rule.min_personas)


def _rows(
    rule: TierRule, rules: Rules, c: Columns, kept: Memo, fit: Hashable, engaged: Bools
) -> Bools:
    """The rows `rule` matches (as `tiering._matches` reads one account)."""
    match = kept.get(("fit", fit, rule.min_fit), lambda: c.fit >= rule.min_fit)  # NaN: no
    match = match & kept.get(("acv", rule.min_acv), lambda: c.acv >= rule.min_acv)
    if rule.needs_personas:
        key = ("committee", tuple(rule.require_personas), rule.min_personas)
        match &= kept.get(key, lambda: _committee(rule, c))
    if rule.signals:
        threshold = rules.intent_min_score
        intent = ("intent", tuple(rule.intent_clusters), threshold)
        wanted = [
            kept.get(intent, lambda: _recent_intent(rule, c, threshold))
            if name == "intent"
            else engaged
            for name in rule.signals
        ]
        joined = np.logical_and if rule.match == "all" else np.logical_or
        match &= joined.reduce(wanted)
    return match


def decide_all(
    c: Columns, rules: Rules, memo: Memo | None = None, fit: Hashable = None
) -> tuple[Ints, Ints]:
    """(tier, index in `rules.tiers` or UNTIERED) of every row: `tiering.decide` on each.
    With a `memo`, masks are kept and reused across calls on the same columns; `fit`
    names the fit column (it changes with the ICP)."""
    kept = memo if memo is not None else Memo()
    tiers = np.zeros(len(c), dtype=np.int64)
    chosen = np.full(len(c), UNTIERED, dtype=np.int64)
    open_rows = np.ones(len(c), dtype=np.bool_)
    points, contacts = rules.engagement_min_points, rules.engagement_min_contacts
    engaged = kept.get(
        ("engagement", points, contacts),
        lambda: (c.engagement_points >= points) | (c.engaged_contacts >= contacts),
    )
    for index, rule in enumerate(rules.tiers):
        match = _rows(rule, rules, c, kept, fit, engaged)
        hit = open_rows & match
        tiers[hit] = rule.tier
        chosen[hit] = index
        open_rows &= ~match
    return tiers, chosen
