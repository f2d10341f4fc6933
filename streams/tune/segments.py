"""Where the search starts besides the current rules: the ICP segments whose accounts had
the outcome most often in the training period.

Fit is a weighted sum, so a segment such as "one country and revenue above a bar" is an
ICP of those values with the other criteria met by anyone, and a tier-1 fit bar of the
full score. A climb that changes one key at a time rarely gets there: each key alone
moves few accounts across a bar of 70. So every combination of the ICP options (a few
thousand) and fit bars is scored here at the account level, which is cheap (a row per
account, not per day), and the best few segments that are not larger than the tier-1
cap allows become starting points. What they are worth per day is the search's to say.
"""

from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.logic.rules import Icp, Rules
from streams.tune.icp import ICP_KEYS, SMOOTHING, WEIGHTS, Choices, Firmographics, criteria

__all__ = ["STARTS", "points", "starts"]

STARTS = 5
"""Segments the search climbs from."""
BARS = (60, 70, 80, 90, 100)
"""Tier-1 fit bars tried with each ICP."""


def _values(current: Icp, choices: Choices) -> dict[str, tuple[Any, ...]]:
    """Each key's values to combine: the current one and the choices (among them the
    one any known value meets, [] or 0)."""
    out: dict[str, tuple[Any, ...]] = {}
    for key in ICP_KEYS:
        values = [getattr(current, key), *choices.options[key]]
        out[key] = tuple(v for i, v in enumerate(values) if v not in values[:i])
    return out


def starts(
    f: Firmographics,
    hit: npt.NDArray[np.bool_],
    rules: Rules,
    choices: Choices,
    largest: int,
) -> list[Mapping[str, Any]]:
    """Up to STARTS segments as changes to the search's dimensions (`icp.KEY` and the
    first tier-1 rule's `min_fit`), best first, each of at most `largest` accounts."""
    tier1 = next((rule for rule in rules.tiers if rule.tier == 1), None)
    if tier1 is None or not len(hit):
        return []
    overall = float(hit.mean())
    values = _values(rules.icp, choices)
    met = {key: [criteria(f, rules.icp, key, v) for v in values[key]] for key in ICP_KEYS}
    weights = [getattr(rules.icp, WEIGHTS[key]) for key in ICP_KEYS]
    tech = criteria(f, rules.icp, "required_tech", rules.icp.required_tech)
    base = np.where(tech, rules.icp.weight_tech, 0.0)
    given = ~np.isnan(f.given)
    rated: list[tuple[float, tuple[int, ...], int]] = []
    for choice in product(*(range(len(values[key])) for key in ICP_KEYS)):
        fit = base + sum(
            w * met[key][i] for w, key, i in zip(weights, ICP_KEYS, choice, strict=True)
        )
        fit = np.where(given, f.given, fit)
        for bar in BARS:
            inside = fit >= bar
            n = int(inside.sum())
            if 0 < n <= largest:
                k = int(hit[inside].sum())
                rated.append((-(k + SMOOTHING * overall) / (n + SMOOTHING), choice, bar))
    rated.sort()
    out: list[Mapping[str, Any]] = []
    for _, choice, bar in rated[:STARTS]:
        start = {f"icp.{key}": values[key][i] for key, i in zip(ICP_KEYS, choice, strict=True)}
        out.append(start | {f"tiers.{tier1.name}.min_fit": bar})
    return out


def _same(value: Any) -> Any:
    """Lists and tuples of the same items alike (dimensions keep lists as tuples)."""
    return tuple(value) if isinstance(value, list) else value


def points(
    starts: Sequence[Mapping[str, Any]], names: Sequence[str], options: Sequence[Sequence[Any]]
) -> list[tuple[int, ...]]:
    """`starts` as option indexes of dimensions `names`, values they lack as the current."""
    out = []
    for start in starts:
        point = []
        for name, opts in zip(names, options, strict=True):
            value = _same(start.get(name, opts[0]))
            point.append(next((i for i, o in enumerate(opts) if _same(o) == value), 0))
        out.append(tuple(point))
    return out
