"""ICP fit for every account at once, so a candidate ICP is scored without replaying.

A column per firmographic (industry, country, employees, revenue, tech stack), read by
`fit_all` as `fit.fit_score` reads one profile: the CRM's own fit_score wins; a criterion
with no data counts as not met.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from schemas.inputs import AccountProfile
from streams.logic.rules import Icp
from streams.tune.columns import Floats

__all__ = ["Firmographics", "fit_all"]

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
