"""The search: candidate rule sets around the current one, each scored on the training
period's runs, the best that meets the constraints kept.

A candidate changes only what `decide_all` reads as thresholds (the signals' floors and
each tier rule's fit and ACV bars), so every one is scored on the same recorded runs.
Candidates are drawn from grids by a seeded generator, the current rules first: the
same history and seed give the same answer.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass

from streams.logic.rules import Rules, TierRule
from streams.tune.score import Figures, Labelled, Period, figures

__all__ = ["GRIDS", "Constraints", "Found", "candidates", "search"]

GRIDS: dict[str, tuple[float, ...]] = {
    "intent_min_score": (40, 50, 60, 70, 80),
    "engagement_min_points": (5, 10, 15, 20, 30),
    "engagement_min_contacts": (1, 2, 3, 4),
    "min_fit": (50, 60, 70, 80, 90),
    "min_acv": (0, 10_000, 25_000, 50_000, 100_000),
}
"""The values each threshold is tried at; a rule's own value is always among them."""


@dataclass(frozen=True, slots=True)
class Constraints:
    """What sales can work: the most accounts in tier 1 (and 2) on any one day."""

    max_tier1: int | None = None
    max_tier2: int | None = None

    def met(self, f: Figures) -> bool:
        return (self.max_tier1 is None or f.peak_accounts[1] <= self.max_tier1) and (
            self.max_tier2 is None or f.peak_accounts[2] <= self.max_tier2
        )


def _pick(rng: random.Random, key: str, current: float) -> float:
    return rng.choice((*GRIDS[key], current))


def _tier(rule: TierRule, rng: random.Random) -> TierRule:
    return rule.model_copy(
        update={
            "min_fit": _pick(rng, "min_fit", rule.min_fit),
            "min_acv": _pick(rng, "min_acv", rule.min_acv),
        }
    )


def candidates(rules: Rules, count: int, seed: int = 0) -> Iterator[Rules]:
    """The current rules, then `count - 1` drawn around them."""
    yield rules
    rng = random.Random(seed)
    for _ in range(count - 1):
        yield rules.model_copy(
            update={
                "intent_min_score": _pick(rng, "intent_min_score", rules.intent_min_score),
                "engagement_min_points": _pick(
                    rng, "engagement_min_points", rules.engagement_min_points
                ),
                "engagement_min_contacts": int(
                    _pick(rng, "engagement_min_contacts", rules.engagement_min_contacts)
                ),
                "tiers": [_tier(rule, rng) for rule in rules.tiers],
            }
        )


@dataclass(frozen=True, slots=True)
class Found:
    rules: Rules
    figures: Figures
    tried: int


def _lift(f: Figures) -> float:
    rate1, rate0 = f.opportunity_rate_tier1, f.opportunity_rate_rest
    return -1.0 if rate1 is None or not rate0 else rate1 / rate0


def search(
    labelled: Labelled,
    rules: Rules,
    train: Period,
    count: int,
    constraints: Constraints = Constraints(),
    seed: int = 0,
) -> Found | None:
    """The candidate with the highest tier-1 lift on `train` that meets `constraints`
    (the earliest drawn among equals; the current rules win a tie); None if none does."""
    best: tuple[float, Rules, Figures] | None = None
    for candidate in candidates(rules, count, seed):
        scored = figures(labelled, candidate, train)
        if constraints.met(scored) and (best is None or _lift(scored) > best[0]):
            best = (_lift(scored), candidate, scored)
    return None if best is None else Found(best[1], best[2], count)
