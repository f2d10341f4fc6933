"""The search: rule sets around the current one, each scored on the training period's
runs without replaying, the best that meets the constraints kept.

A candidate changes what `decide_all` reads as thresholds (the signals' floors, each
tier rule's fit and ACV bars, the signals, clusters and personas it asks for) and the
ICP its fit is measured under, so every one is scored on the same recorded runs. Each of
those is a dimension with a few options, the current value first. The search climbs one
dimension at a time from the current rules (every option of a dimension tried, the best
kept, until a pass over all of them changes nothing), then from seeded random points
while the budget lasts: the same history and seed give the same answer, and a rule found
is a few readable changes, not a model.

What it maximises is tier 1's opportunity rate over the rest's, each rate shrunk toward
the overall one by PRIOR_ACCOUNTS accounts' worth of days at it: days of one account are
not independent draws, and a tier 1 of a handful of lucky accounts must not win.
"""

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.logic.rules import Rules
from streams.tune.icp import ICP_KEYS, Choices
from streams.tune.score import Figures, Labelled, Period, figures
from streams.tune.segments import points

__all__ = [
    "GRIDS",
    "PRIOR_ACCOUNTS",
    "Constraints",
    "Dimension",
    "Found",
    "dimensions",
    "prior_days",
    "score",
    "search",
]

GRIDS: dict[str, tuple[Any, ...]] = {
    "intent_min_score": (40, 50, 60, 70, 80),
    "engagement_min_points": (5, 10, 15, 20, 30),
    "engagement_min_contacts": (1, 2, 3, 4),
    "min_fit": (50, 60, 70, 80, 90, 100),
    "min_acv": (0, 10_000, 25_000, 50_000, 100_000),
    "signals": ((), ("intent",), ("engagement",), ("intent", "engagement")),
    "match": ("all", "any"),
    "require_personas": ((), ("decision_maker",), ("decision_maker", "champion")),
    "min_personas": (0, 1, 2, 3),
}
"""The values each threshold is tried at, besides the rules' own."""

PRIOR_ACCOUNTS = 10
WORTH = 0.02
"""How much (relatively) a change must add to the training score to be written out."""
IDLE = 1000
"""Account-days of the overall rate each side's rate is shrunk with."""


@dataclass(frozen=True, slots=True)
class Constraints:
    """What sales can work: the most accounts in tier 1 (and 2) on any one day."""

    max_tier1: int | None = None
    max_tier2: int | None = None

    def met(self, f: Figures) -> bool:
        return self.excess(f) == 0

    def excess(self, f: Figures) -> float:
        """How far past the caps, relatively (0: within them)."""
        over = 0.0
        for cap, peak in (
            (self.max_tier1, f.peak_accounts[1]),
            (self.max_tier2, f.peak_accounts[2]),
        ):
            if cap is not None and peak > cap:
                over += (peak - cap) / max(cap, 1)
        return over


@dataclass(frozen=True)
class Dimension:
    """One thing a candidate may change: `options[0]` is the current value."""

    name: str
    options: tuple[Any, ...]
    apply: Callable[[Rules, Any], Rules]


def _options(current: Any, grid: Sequence[Any]) -> tuple[Any, ...]:
    return (current, *(v for v in grid if v != current))


def _global(key: str) -> Callable[[Rules, Any], Rules]:
    return lambda rules, value: rules.model_copy(update={key: value})


def _tier(index: int, key: str) -> Callable[[Rules, Any], Rules]:
    def apply(rules: Rules, value: Any) -> Rules:
        tiers = list(rules.tiers)
        value = list(value) if isinstance(value, tuple) else value
        tiers[index] = tiers[index].model_copy(update={key: value})
        return rules.model_copy(update={"tiers": tiers})

    return apply


def _icp(key: str) -> Callable[[Rules, Any], Rules]:
    return lambda rules, value: rules.model_copy(
        update={"icp": rules.icp.model_copy(update={key: value})}
    )


def dimensions(rules: Rules, icp: Choices | None = None) -> list[Dimension]:
    """What the search may change in `rules`, the ICP's keys among `icp`'s options."""
    out = [
        Dimension(key, _options(getattr(rules, key), GRIDS[key]), _global(key))
        for key in (
            "intent_min_score",
            "engagement_min_points",
            "engagement_min_contacts",
        )
    ]
    if icp is not None:
        for key in ICP_KEYS:
            if icp.options[key]:
                options = (getattr(rules.icp, key), *icp.options[key])
                out.append(Dimension(f"icp.{key}", options, _icp(key)))
    clusters = ((), *((name,) for name in rules.intent.clusters))
    for i, rule in enumerate(rules.tiers):
        grids: dict[str, Sequence[Any]] = {
            **{k: GRIDS[k] for k in ("min_fit", "min_acv", "signals", "match")},
            "require_personas": GRIDS["require_personas"],
            "min_personas": GRIDS["min_personas"],
            "intent_clusters": clusters if rules.intent.clusters else (),
        }
        for key, grid in grids.items():
            now = getattr(rule, key)
            options = _options(tuple(now) if isinstance(now, list) else now, grid)
            if len(options) > 1:
                out.append(Dimension(f"tiers.{rule.name}.{key}", options, _tier(i, key)))
    return out


def prior_days(labelled: Labelled, period: Period) -> float:
    """PRIOR_ACCOUNTS accounts' worth of days in `period` (all the runs' days if None)."""
    if period is None:
        first, end = labelled.first_day.min(), (labelled.first_day + labelled.days).max()
        period = (int(first), int(end))
    return PRIOR_ACCOUNTS * float(period[1] - period[0])


def score(f: Figures, prior_days: float) -> float:
    """Tier 1's rate over the rest's, each shrunk toward the overall rate by `prior_days`
    at it (module doc); 0 with no hits at all."""
    days1, days0 = f.tier_days[1], sum(f.tier_days) - f.tier_days[1]
    hits = f.tier1_hits + f.rest_hits
    if not hits:
        return 0.0
    overall = hits / (days1 + days0)
    rate1 = (f.tier1_hits + prior_days * overall) / (days1 + prior_days)
    rate0 = (f.rest_hits + prior_days * overall) / (days0 + prior_days)
    return rate1 / rate0


@dataclass(frozen=True, slots=True)
class Found:
    rules: Rules
    figures: Figures
    tried: int
    best: float
    """The best score found, before the changes that add nothing were undone."""
    without: dict[str, Figures]
    """Per dimension changed, the training figures with that change alone undone."""


Point = tuple[int, ...]


class _Climb:
    """Candidates as option indexes, each scored once, within a budget."""

    def __init__(
        self,
        labelled: Labelled,
        rules: Rules,
        dims: list[Dimension],
        train: Period,
        budget: int,
        constraints: Constraints,
    ) -> None:
        self.labelled = labelled.within(train)
        """The training runs alone: every figure below is of all of them."""
        self.rules, self.dims, self.constraints = rules, dims, constraints
        self.budget: float = budget
        self.scores: dict[Point, float] = {}
        self.prior_days = prior_days(labelled, train)
        self.best: tuple[float, Point, Figures] | None = None

    def rules_at(self, point: Point) -> Rules:
        rules = self.rules
        for dim, option in zip(self.dims, point, strict=True):
            if option:
                rules = dim.apply(rules, dim.options[option])
        return rules

    def value(self, point: Point) -> float | None:
        """The point's score (below 0 if it breaks a constraint); None once over budget."""
        if point in self.scores:
            return self.scores[point]
        if len(self.scores) >= self.budget:
            return None
        scored = figures(self.labelled, self.rules_at(point))
        # Past a cap, ranked below any candidate within them, the less past the better:
        # a climb from there moves toward the caps rather than nowhere.
        over = self.constraints.excess(scored)
        value = score(scored, self.prior_days) if not over else -1 - over
        self.scores[point] = value
        if not over and (self.best is None or value > self.best[0]):
            self.best = (value, point, scored)
        return value

    def adds(self, point: Point, without: Point) -> bool:
        """Whether `point` scores more than WORTH better than `without` (one change
        undone); a change a constraint needs is kept."""
        with_it, without_it = self.value(point), self.value(without)
        assert with_it is not None, "scored: the budget does not bind past the best"
        assert without_it is not None
        return without_it < 0 or with_it > without_it * (1 + WORTH)

    def simplest(self) -> tuple[Point, Figures, dict[str, Figures]]:
        """The best point with each change undone, in turn, unless it adds more than
        WORTH to the training score (`adds`), until every change left does (an undone
        change can make another worth nothing): what the search changed by chance, or for
        a sliver, is not written out (a few scorings past the budget). Also, for each
        change kept, the figures without it: its evidence."""
        assert self.best is not None
        _, point, _ = self.best
        self.budget = math.inf
        undoing = True
        while undoing:
            undoing = False
            for d in range(len(point)):
                there = (*point[:d], 0, *point[d + 1 :])
                if point[d] and not self.adds(point, there):
                    point, undoing = there, True
        undone = {
            dim.name: figures(self.labelled, self.rules_at((*point[:d], 0, *point[d + 1 :])))
            for d, dim in enumerate(self.dims)
            if point[d]
        }
        return point, figures(self.labelled, self.rules_at(point)), undone

    def ascend(self, point: Point) -> None:
        """Each dimension in turn set to its best option, until a pass changes nothing."""
        here = self.value(point)
        while here is not None:
            moved = False
            for d, dim in enumerate(self.dims):
                for option in range(len(dim.options)):
                    there = (*point[:d], option, *point[d + 1 :])
                    value = self.value(there)
                    if value is None:
                        return
                    if value > here:
                        point, here, moved = there, value, True
            if not moved:
                return


def search(
    labelled: Labelled,
    rules: Rules,
    train: Period,
    budget: int,
    constraints: Constraints = Constraints(),
    icp: Choices | None = None,
    seed: int = 0,
    dims: list[Dimension] | None = None,
    starts: Sequence[Mapping[str, Any]] = (),
) -> Found | None:
    """The candidate with the best score on `train` that meets `constraints`, among at
    most `budget` tried (the earliest found among equals: the current rules win a
    tie), with every change that adds nothing undone; None if none meets them. `dims`:
    what may change (default: `dimensions`); `starts`, other points to climb from (values
    by dimension name, segments.py), before the random ones."""
    dims = dimensions(rules, icp) if dims is None else dims
    climb = _Climb(labelled, rules, dims, train, budget, constraints)
    # The segments first: the most promising, and a climb from the current rules alone
    # can spend the budget on a pass after pass of small steps.
    for start in points(starts, [d.name for d in dims], [d.options for d in dims]):
        climb.ascend(start)
    climb.ascend(tuple(0 for _ in dims))
    rng = random.Random(seed)
    space, idle = math.prod(len(d.options) for d in dims), 0
    # A climb from a point whose neighbours were all scored costs nothing: give up
    # after IDLE of those in a row (a small space is then all but exhausted).
    while len(climb.scores) < min(budget, space) and idle < IDLE:
        tried = len(climb.scores)
        climb.ascend(tuple(rng.randrange(len(d.options)) for d in dims))
        idle = idle + 1 if len(climb.scores) == tried else 0
    if climb.best is None:
        return None
    best = climb.best[0]
    point, scored, without = climb.simplest()
    found = Rules.model_validate(climb.rules_at(point).model_dump())
    return Found(found, scored, len(climb.scores), best, without)
