"""ICP fit for every account at once, so a candidate ICP is scored without replaying;
and an ICP learned from which accounts had the outcome the tuning aims at.

A column per firmographic (industry, country, employees, revenue, tech stack), read by
`fit_all` as `fit.fit_score` reads one profile: the CRM's own fit_score wins; a criterion
with no data counts as not met.

`learn` keeps the industries and countries, and the lowest employee and revenue bars,
whose accounts had the outcome clearly more often than all accounts did: each group's
rate is shrunk toward the overall rate by SMOOTHING accounts of it, so a band of three
accounts that happened to buy does not make the profile.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from schemas.inputs import AccountProfile
from streams.logic.rules import Icp
from streams.tune.columns import Floats

__all__ = ["MARGIN", "SMOOTHING", "Firmographics", "Learned", "fit_all", "learn"]

SMOOTHING = 20
"""Accounts of the overall rate each group's rate is shrunk with."""
MARGIN = 1.2
"""How much above the overall rate a group's shrunk rate must be to join the profile."""
BANDS = 10
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


def fit_all(f: Firmographics, icp: Icp) -> Floats:
    """Every account's fit under `icp` (the given fit_score where there is one)."""
    score = np.zeros(len(f.accounts))
    score += np.where(_listed(f.industry, icp.industries), icp.weight_industry, 0.0)
    score += np.where(_listed(f.country, icp.countries), icp.weight_country, 0.0)
    score += np.where(f.employees >= icp.min_employees, icp.weight_employees, 0.0)  # NaN: no
    score += np.where(f.revenue >= icp.min_annual_revenue, icp.weight_revenue, 0.0)
    required = frozenset(t.strip().casefold() for t in icp.required_tech)
    has_tech = np.array([required <= stack for stack in f.tech], dtype=np.bool_)
    score += np.where(has_tech, icp.weight_tech, 0.0)
    return np.where(np.isnan(f.given), score, f.given)


@dataclass(frozen=True, slots=True)
class Learned:
    icp: Icp
    evidence: dict[str, str]
    """Per ICP key, what the learned value rests on."""


def _shrunk(hits: int, accounts: int, overall: float) -> float:
    return (hits + SMOOTHING * overall) / (accounts + SMOOTHING)


def _values(
    f: Firmographics, column: Texts, hit: npt.NDArray[np.bool_], overall: float
) -> tuple[list[str], str]:
    """The values whose shrunk rate clears MARGIN x overall, and why."""
    chosen, said = [], []
    for value in sorted({v for v in column if v is not None and v == v.strip()}):
        rows = column == value
        n, k = int(rows.sum()), int(hit[rows].sum())
        if _shrunk(k, n, overall) >= MARGIN * overall:
            chosen.append(f.spelling.get(value, value))
            said.append(f"{f.spelling.get(value, value)}: {k} of {n}")
    if not chosen:
        return [], f"none stood out (all accounts: {overall:.1%})"
    return chosen, f"{'; '.join(said)} accounts (all accounts: {overall:.1%})"


def _bar(column: Floats, hit: npt.NDArray[np.bool_], overall: float) -> tuple[float, str]:
    """The bar whose accounts above it have the best shrunk rate, if it clears MARGIN x
    overall (else 0: no bar), and why. Bars are quantiles rounded to 2 digits."""
    known = column[~np.isnan(column)]
    if not len(known):
        return 0.0, "no values"
    best, why = 0.0, f"no bar stood out (all accounts: {overall:.1%})"
    top = MARGIN * overall
    for q in np.unique(np.quantile(known, np.arange(1, BANDS) / BANDS)):
        bar = float(f"{q:.2g}")
        above = column >= bar
        n, k = int(above.sum()), int(hit[above].sum())
        rate = _shrunk(k, n, overall)
        if n and rate > top:
            best, top = bar, rate
            why = f">= {bar:,.0f}: {k} of {n} accounts (all accounts: {overall:.1%})"
    return best, why


def learn(f: Firmographics, hit: npt.NDArray[np.bool_], current: Icp) -> Learned:
    """An ICP from `hit` (per account of `f`: had the outcome in the training period),
    with the current weights and required tech."""
    overall = float(hit.mean()) if len(hit) else 0.0
    industries, why_industries = _values(f, f.industry, hit, overall)
    countries, why_countries = _values(f, f.country, hit, overall)
    employees, why_employees = _bar(f.employees, hit, overall)
    revenue, why_revenue = _bar(f.revenue, hit, overall)
    icp = current.model_copy(
        update={
            "industries": industries,
            "countries": countries,
            "min_employees": int(employees),
            "min_annual_revenue": revenue,
        }
    )
    evidence = {
        "industries": why_industries,
        "countries": why_countries,
        "min_employees": why_employees,
        "min_annual_revenue": why_revenue,
    }
    return Learned(icp, evidence)
