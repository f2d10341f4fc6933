"""The surge thresholds' search: when a surge should alert, judged by what followed the
alerts of the training period, under a cap on what one owner hears in a week.

An alert depends on the order of events within a day and on each episode's history
(hysteresis, cool-down), which a table of day-end measurements does not hold. So every
candidate is replayed for real, several in one pass over the history (`evaluate`), in
two blocks:

1. The intent and the engagement thresholds. The two kinds are episodes of their own, so
   one pass pairs the intent options with the engagement options (rule set j has the
   j-th of each), and any intent option's alerts add to any engagement option's: every
   combination is scored, and the cap checked, from that one pass.
2. The cool-down and the tiers that alert, with the thresholds chosen.

A block moves away from the current values only for a gain above WORTH (or to meet the
cap). An enter threshold's exit threshold moves with it, in proportion, so the
hysteresis keeps its shape.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any

from streams.logic.rules import Rules, SurgeRules
from streams.tune.alerts import Tally, alert_score

__all__ = [
    "BLOCKS",
    "EXITS",
    "SURGE_KEYS",
    "SurgeFound",
    "changed_keys",
    "reverted",
    "search_surges",
    "simplest",
    "with_values",
]

BLOCKS: tuple[dict[str, tuple[Any, ...]], ...] = (
    {
        "intent_enter_score": (45.0, 60.0, 75.0, 90.0),
        "intent_enter_ratio": (1.25, 1.5, 2.0, 3.0),
    },
    {
        "engagement_enter_ratio": (1.5, 2.0, 3.0, 4.0),
        "engagement_min_points": (5.0, 10.0, 20.0, 40.0),
    },
    {
        "cooldown_days": (7.0, 14.0, 30.0),
        "alert_tiers": ((0, 1, 2, 3), (1, 2, 3), (1,)),
    },
)
"""The values each key is tried at, besides the rules' own: the intent block, the
engagement block (searched together, in one pass), then the shared block."""
SURGE_KEYS = tuple(key for block in BLOCKS for key in block)
WORTH = 0.02
"""How much (relatively) a block's change must add to the training score."""
ROUNDS = 3
"""The most rounds of both blocks."""

EXITS = {
    "intent_enter_score": ("intent_exit_score", False),
    "intent_enter_ratio": ("intent_exit_ratio", True),
    "engagement_enter_ratio": ("engagement_exit_ratio", True),
    "engagement_min_points": ("engagement_exit_min_points", False),
}
"""Each enter threshold's exit threshold, and whether it is a ratio (moved above 1)."""

Evaluate = Callable[[Sequence[Rules]], Awaitable[list[Tally]]]
"""Replays rule sets (one pass) and tallies each one's training alerts."""


def with_values(surge: SurgeRules, values: Mapping[str, Any]) -> SurgeRules:
    """`surge` with these keys set, and the exit threshold of each enter threshold set
    moved in proportion (for a ratio, its part above 1)."""
    update: dict[str, Any] = {}
    for key, value in values.items():
        update[key] = list(value) if isinstance(value, tuple) else value
        if key not in EXITS or value == getattr(surge, key):
            continue
        exit_key, ratio = EXITS[key]
        old, exit_now = getattr(surge, key), getattr(surge, exit_key)
        moved = 1 + (exit_now - 1) * (value - 1) / (old - 1) if ratio else exit_now * value / old
        update[exit_key] = min(round(moved, 2), value)
    return surge.model_copy(update=update)


def _current(surge: SurgeRules, keys: Sequence[str]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v := getattr(surge, k), list) else v for k in keys}


def _options(surge: SurgeRules, block: Mapping[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Every combination of the block's values, the current one first."""
    now = _current(surge, list(block))
    grids = [(now[k], *(v for v in grid if v != now[k])) for k, grid in block.items()]
    return [dict(zip(block, values, strict=True)) for values in product(*grids)]


def _rules(rules: Rules, values: Mapping[str, Any]) -> Rules:
    return rules.model_copy(update={"surge": with_values(rules.surge, values)})


@dataclass(frozen=True)
class SurgeFound:
    rules: Rules
    tally: Tally
    """The chosen rules' training alerts."""
    current: Tally
    """The current rules' training alerts."""
    tried: int
    """Rule sets replayed."""
    without: Mapping[str, Tally] = field(default_factory=dict)
    """Each changed key's evidence: the training alerts of `rules` with that key (and its
    exit threshold) as it was (filled by `simplest`)."""


def _rank(t: Tally, base_rate: float, cap: int | None) -> tuple[bool, float, float]:
    """Within the cap first, then less past it, then the better score."""
    over = 0.0 if cap is None else max(0, t.most_per_owner_week() - cap) / max(cap, 1)
    return (over == 0, -over, alert_score(t, base_rate))


def _better(candidate: Tally, current: Tally, base_rate: float, cap: int | None) -> bool:
    one, other = _rank(candidate, base_rate, cap), _rank(current, base_rate, cap)
    if one[:2] != other[:2]:
        return one[:2] > other[:2]
    return one[2] > other[2] * (1 + WORTH)


async def _thresholds(
    rules: Rules, chosen: dict[str, Any], evaluate: Evaluate, base_rate: float, cap: int | None
) -> tuple[Tally, dict[str, Any], int, Tally]:
    """Block 1 around the values `chosen` so far, in one paired pass: the best
    combination's alerts and values (the incumbent's unless one beats it), how many rule
    sets were replayed, and the incumbent's alerts (the pass's first rule set).

    A combination's alerts are added up from the pass: an estimate, since the kinds are
    not wholly apart (an open episode of one kind books a re-check that evaluates every
    kind). So the combination chosen is replayed on its own, unless the pass replayed it,
    and kept only if its own alerts beat the incumbent's."""
    now = with_values(rules.surge, chosen)
    intent, engagement = _options(now, BLOCKS[0]), _options(now, BLOCKS[1])
    pairs = max(len(intent), len(engagement))
    paired = [
        chosen | intent[j % len(intent)] | engagement[j % len(engagement)] for j in range(pairs)
    ]
    tallies = await evaluate([_rules(rules, values) for values in paired])
    incumbent = tallies[0]
    by_intent = [tallies[i].only({"intent"}) for i in range(len(intent))]
    by_engagement = [tallies[e].only({"engagement"}) for e in range(len(engagement))]
    best, values = incumbent, paired[0]
    for i, e in product(range(len(intent)), range(len(engagement))):
        combined = by_intent[i] + by_engagement[e]
        if _rank(combined, base_rate, cap) > _rank(best, base_rate, cap):
            best, values = combined, chosen | intent[i] | engagement[e]
    tried = len(paired)
    if values in paired:
        best = tallies[paired.index(values)]
    else:
        (best,) = await evaluate([_rules(rules, values)])
        tried += 1
    if not _better(best, incumbent, base_rate, cap):
        best, values = incumbent, paired[0]
    return best, values, tried, incumbent


async def _shared(
    rules: Rules,
    chosen: dict[str, Any],
    incumbent: Tally,
    evaluate: Evaluate,
    base_rate: float,
    cap: int | None,
) -> tuple[Tally, dict[str, Any], int]:
    """Block 2 (cool-down, tiers that alert) with the thresholds `chosen`."""
    options = [chosen | v for v in _options(with_values(rules.surge, chosen), BLOCKS[2])]
    tallies = await evaluate([_rules(rules, values) for values in options[1:]])
    best, values = incumbent, options[0]
    for option, t in zip(options[1:], tallies, strict=True):
        if _rank(t, base_rate, cap) > _rank(best, base_rate, cap):
            best, values = t, option
    if not _better(best, incumbent, base_rate, cap):
        best, values = incumbent, options[0]
    return best, values, len(options) - 1


async def search_surges(
    rules: Rules, evaluate: Evaluate, base_rate: float, cap: int | None, keep: bool = False
) -> SurgeFound:
    """The surge rules (of `rules`) whose training alerts score best within the cap;
    `base_rate`: the share of all training account-days followed by an opportunity. The
    blocks take turns, a round at a time, until a round changes nothing (at most
    ROUNDS): what one block chose can open a better choice in the other (fewer tiers
    alerting leave room under the cap for lower thresholds). With `keep`, the current
    rules stay when they are within the cap (the alerts are not what is tuned for, only
    held to the cap)."""
    tried = 0
    if keep:  # one rule set replayed first: most rules are within a cap that was met
        (now,) = await evaluate([rules])
        if _rank(now, base_rate, cap)[0]:
            return SurgeFound(rules, now, now, 1)
        tried = 1
    chosen: dict[str, Any] = {}
    current: Tally | None = None
    for _ in range(ROUNDS):
        was = _rules(rules, chosen)
        best, chosen, n, incumbent = await _thresholds(rules, chosen, evaluate, base_rate, cap)
        current = incumbent if current is None else current  # the first: the current rules
        tried += n
        best, chosen, n = await _shared(rules, chosen, best, evaluate, base_rate, cap)
        tried += n
        if _rules(rules, chosen) == was:
            break
    assert current is not None
    return SurgeFound(_rules(rules, chosen), best, current, tried)


def changed_keys(rules: Rules, tuned: Rules) -> list[str]:
    """The surge keys `tuned` sets otherwise than `rules` (exit thresholds aside)."""
    return [k for k in SURGE_KEYS if getattr(tuned.surge, k) != getattr(rules.surge, k)]


async def simplest(
    rules: Rules, found: SurgeFound, evaluate: Evaluate, base_rate: float, cap: int | None
) -> SurgeFound:
    """`found` without the changes that add no more than WORTH to the training score and
    that the cap does not need: each changed key undone in turn, in one pass, and those
    not worth keeping undone together. A block's values move together, and not every one
    of them pulls its weight."""
    keys = changed_keys(rules, found.rules)
    if len(keys) < 2:  # a lone change beat the current rules by WORTH already
        return replace(found, without={key: found.current for key in keys})
    alone = await evaluate([reverted(rules, found.rules, key) for key in keys])
    kept = found.rules
    for key, without in zip(keys, alone, strict=True):
        if not _better(found.tally, without, base_rate, cap):
            kept = reverted(rules, kept, key)
    whole = replace(
        found, tried=found.tried + len(keys), without=dict(zip(keys, alone, strict=True))
    )
    if kept == found.rules:
        return whole
    # Undone together, they were judged one at a time: what is left is replayed (with
    # each of its changes undone, for the evidence), and kept only if it is no worse, by
    # WORTH, than the whole and within the cap as it was.
    left = changed_keys(rules, kept)
    simpler, *undone = await evaluate([kept, *(reverted(rules, kept, key) for key in left)])
    whole = replace(whole, tried=whole.tried + 1 + len(left))
    if _better(found.tally, simpler, base_rate, cap):
        return whole
    return replace(whole, rules=kept, tally=simpler, without=dict(zip(left, undone, strict=True)))


def reverted(rules: Rules, found: Rules, key: str) -> Rules:
    """`found` with one surge key (and its exit threshold) as in `rules`."""
    surge = found.surge.model_copy(update={key: getattr(rules.surge, key)})
    if key in EXITS:
        exit_key = EXITS[key][0]
        surge = surge.model_copy(update={exit_key: getattr(rules.surge, exit_key)})
    return found.model_copy(update={"surge": surge})
