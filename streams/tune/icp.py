"""ICP fit for every account at once, so a candidate ICP is scored without replaying;
and an ICP learned from which accounts had the outcome the tuning aims at.

A column per firmographic (industry, country, employees, revenue, tech stack), read by
`fit_all` as `fit.fit_score` reads one profile: the CRM's own fit_score wins; a criterion
with no data counts as not met.

`choices` says what the search may try for each ICP key: the industries and countries
whose accounts had the outcome most often in the training period (each value's rate
shrunk toward the overall rate by SMOOTHING accounts of it, so three accounts that
happened to buy do not rank first), and employee and revenue bars at quantiles. Which
of them, if any, make the profile is the search's to say, scored as every other change.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from schemas.inputs import AccountProfile
from streams.logic.rules import Icp
from streams.tune.columns import Floats

__all__ = [
    "ICP_KEYS",
    "SMOOTHING",
    "WEIGHTS",
    "Choices",
    "Firmographics",
    "choices",
    "criteria",
    "fit_all",
]

SMOOTHING = 20
"""Accounts of the overall rate each group's rate is shrunk with, to rank values."""
TOP = 3
"""The most industries (or countries) an ICP list is tried with."""
BANDS = 20
"""Bars tried for employees and revenue: this many quantiles of the accounts' values."""

Texts = npt.NDArray[np.object_]


def _fold(value: str | None) -> str | None:
    """A profile's value as `fit_score` compares it: case-folded (not trimmed)."""
    return None if value is None else value.casefold()


@dataclass(frozen=True, slots=True)
class Firmographics:
    """The accounts' profiles as columns, a row per account in `accounts`' order."""

    accounts: tuple[str, ...]
    given: Floats
    """The CRM's fit_score; NaN where it gave none."""
    industry: Texts
    """Case-folded; None where unknown."""
    country: Texts
    employees: Floats
    revenue: Floats
    tech: tuple[frozenset[str], ...]
    spelling: dict[str, str]
    """A case-folded industry or country as a profile first spelled it (for the ICP)."""

    @classmethod
    def of(cls, profiles: Mapping[str, AccountProfile]) -> "Firmographics":
        rows = [profiles[a] for a in sorted(profiles)]

        def numbers(values: list[float | None]) -> Floats:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        return cls(
            accounts=tuple(sorted(profiles)),
            given=numbers([p.fit_score for p in rows]),
            industry=np.array([_fold(p.industry) for p in rows], dtype=object),
            country=np.array([_fold(p.country) for p in rows], dtype=object),
            employees=numbers([p.employees for p in rows]),
            revenue=numbers([p.annual_revenue for p in rows]),
            tech=tuple(frozenset(t.strip().casefold() for t in p.tech_stack) for p in rows),
            spelling={
                v.casefold(): v
                for p in reversed(rows)
                for v in (p.industry, p.country)
                if v is not None
            },
        )


def _listed(column: Texts, allowed: list[str]) -> npt.NDArray[np.bool_]:
    """Known, and in `allowed` (an empty list allows any known value)."""
    known = np.array([v is not None for v in column], dtype=np.bool_)
    if not allowed:
        return known
    wanted = {v.strip().casefold() for v in allowed}
    return known & np.array([v in wanted for v in column], dtype=np.bool_)


def criteria(f: Firmographics, icp: Icp, key: str, value: Any) -> npt.NDArray[np.bool_]:
    """Which accounts meet the ICP criterion `key` set to `value`."""
    if key == "industries":
        return _listed(f.industry, value)
    if key == "countries":
        return _listed(f.country, value)
    if key == "min_employees":
        return np.asarray(f.employees >= value)  # NaN: not met
    if key == "min_annual_revenue":
        return np.asarray(f.revenue >= value)
    required = frozenset(t.strip().casefold() for t in value)
    return np.array([required <= stack for stack in f.tech], dtype=np.bool_)


WEIGHTS = {
    "industries": "weight_industry",
    "countries": "weight_country",
    "min_employees": "weight_employees",
    "min_annual_revenue": "weight_revenue",
    "required_tech": "weight_tech",
}
"""Each criterion's weight in the ICP."""


def fit_all(f: Firmographics, icp: Icp) -> Floats:
    """Every account's fit under `icp` (the given fit_score where there is one)."""
    score = np.zeros(len(f.accounts))
    for key, weight in WEIGHTS.items():
        score += np.where(criteria(f, icp, key, getattr(icp, key)), getattr(icp, weight), 0.0)
    return np.where(np.isnan(f.given), score, f.given)


ICP_KEYS = ("industries", "countries", "min_employees", "min_annual_revenue")


@dataclass(frozen=True, slots=True)
class Choices:
    """What the search may set each ICP key to, learned from the training outcomes."""

    options: dict[str, tuple[Any, ...]]
    """Per key: values to try (the current one not among them)."""
    why: dict[str, dict[str, str]]
    """Per key, per option (as JSON text), what it rests on."""


def _shrunk(hits: int, accounts: int, overall: float) -> float:
    return (hits + SMOOTHING * overall) / (accounts + SMOOTHING)


def _said(k: int, n: int, overall: float) -> str:
    return f"{k} of {n} accounts ({k / n:.0%}, against {overall:.0%} of all accounts)"


def _lists(
    f: Firmographics, column: Texts, hit: npt.NDArray[np.bool_], overall: float
) -> tuple[list[list[str]], dict[str, str]]:
    """The TOP values by shrunk rate, as lists of the first 1..TOP; and "any" ([])."""
    rated = []
    for value in {v for v in column if v is not None and v == v.strip()}:
        rows = column == value
        n, k = int(rows.sum()), int(hit[rows].sum())
        rated.append((-_shrunk(k, n, overall), value, k, n))
    rated.sort()
    options: list[list[str]] = [[]]
    why = {"[]": "any known value"}
    for size in range(1, min(TOP, len(rated)) + 1):
        chosen = [f.spelling.get(v, v) for _, v, _, _ in rated[:size]]
        options.append(chosen)
        why[orjson.dumps(chosen).decode()] = "; ".join(
            f"{f.spelling.get(v, v)}: {_said(k, n, overall)}" for _, v, k, n in rated[:size]
        )
    return options, why


def _bars(
    column: Floats, hit: npt.NDArray[np.bool_], overall: float
) -> tuple[list[float], dict[str, str]]:
    """No bar (0), and the BANDS quantiles of the known values, rounded to 2 digits."""
    known = column[~np.isnan(column)]
    bars = (
        sorted({float(f"{q:.2g}") for q in np.quantile(known, np.arange(1, BANDS) / BANDS)})
        if len(known)
        else []
    )
    why = {"0": "no bar"}
    for bar in bars:
        above = column >= bar
        why[orjson.dumps(bar).decode()] = (
            f"at or above it: {_said(int(hit[above].sum()), int(above.sum()), overall)}"
        )
    return [0.0, *bars], why


def choices(f: Firmographics, hit: npt.NDArray[np.bool_], current: Icp) -> Choices:
    """ICP values worth trying, from `hit` (per account of `f`: had the outcome in the
    training period): for industries and countries the best few by their accounts'
    shrunk rate, for employees and revenue bars at quantiles; none the current value."""
    overall = float(hit.mean()) if len(hit) else 0.0
    industries = _lists(f, f.industry, hit, overall)
    countries = _lists(f, f.country, hit, overall)
    employees = _bars(f.employees, hit, overall)
    revenue = _bars(f.revenue, hit, overall)
    found: dict[str, tuple[Sequence[Any], dict[str, str]]] = {
        "industries": industries,
        "countries": countries,
        "min_employees": ([int(b) for b in employees[0]], employees[1]),
        "min_annual_revenue": revenue,
    }
    return Choices(
        options={
            key: tuple(v for v in values if v != getattr(current, key))
            for key, (values, _) in found.items()
        },
        why={key: why for key, (_, why) in found.items()},
    )
