"""Fit of an account against the ideal customer profile, when the CRM gives no fit_score."""

from schemas.inputs import AccountProfile
from streams.logic.rules import Icp

__all__ = ["fit_score"]


def _folded(values: list[str]) -> set[str]:
    return {v.strip().casefold() for v in values}


def fit_score(profile: AccountProfile, icp: Icp) -> float | None:
    """The given fit_score, else the summed weights of the ICP criteria met (0-100).

    Criteria the profile has no data for count as not met: a profile we know nothing
    about must not look like a perfect fit.
    """
    if profile.fit_score is not None:
        return profile.fit_score
    score = 0.0
    if profile.industry and (
        not icp.industries or profile.industry.casefold() in _folded(icp.industries)
    ):
        score += icp.weight_industry
    if profile.country and (
        not icp.countries or profile.country.casefold() in _folded(icp.countries)
    ):
        score += icp.weight_country
    if profile.employees is not None and profile.employees >= icp.min_employees:
        score += icp.weight_employees
    if profile.annual_revenue is not None and profile.annual_revenue >= icp.min_annual_revenue:
        score += icp.weight_revenue
    if _folded(icp.required_tech) <= _folded(profile.tech_stack):
        score += icp.weight_tech
    return score
