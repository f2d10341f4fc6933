"""Every account's fit under a candidate ICP, at once, is what `fit_score` gives each
profile (values drawn near the ICP's thresholds and lists, in any case and spacing)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.inputs import AccountProfile
from streams.logic.rules import Icp
from streams.logic.signals.fit import fit_score
from streams.tune.icp import Firmographics, fit_all

INDUSTRIES = ["software", "Fintech", " retail", "SaaS "]
COUNTRIES = ["US", "de", "BR", "GB"]
TECH = ["salesforce", "Snowflake", "hubspot"]

profiles = st.builds(
    AccountProfile,
    account_id=st.just("x"),
    name=st.just("X"),
    industry=st.none() | st.sampled_from(INDUSTRIES),
    country=st.none() | st.sampled_from(COUNTRIES),
    employees=st.none() | st.sampled_from([0, 199, 200, 5_000]),
    annual_revenue=st.none() | st.sampled_from([0.0, 4_999_999.0, 5_000_000.0, 9e7]),
    tech_stack=st.lists(st.sampled_from(TECH), unique=True, max_size=3),
    fit_score=st.none() | st.none() | st.sampled_from([0.0, 55.0, 100.0]),
)
weights = st.sampled_from(
    [(30, 20, 20, 20, 10), (20, 20, 20, 20, 20), (0, 0, 50, 50, 0), (100, 0, 0, 0, 0)]
)
icps = st.builds(
    lambda industries, countries, employees, revenue, tech, w: Icp(
        industries=industries,
        countries=countries,
        min_employees=employees,
        min_annual_revenue=revenue,
        required_tech=tech,
        weight_industry=w[0],
        weight_country=w[1],
        weight_employees=w[2],
        weight_revenue=w[3],
        weight_tech=w[4],
    ),
    st.lists(st.sampled_from(["software", "FINTECH", "saas", "health"]), unique=True, max_size=3),
    st.lists(st.sampled_from(["us", "DE", "FR"]), unique=True, max_size=2),
    st.sampled_from([0, 200, 1_000]),
    st.sampled_from([0.0, 5_000_000.0]),
    st.lists(st.sampled_from(["SALESFORCE", "snowflake", "marketo"]), unique=True, max_size=2),
    weights,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(profiles, min_size=1, max_size=20), icps)
def test_every_accounts_fit_is_fit_score(rows, icp):
    by_account = {
        f"a{n:02d}": p.model_copy(update={"account_id": f"a{n:02d}"}) for n, p in enumerate(rows)
    }
    firmographics = Firmographics.of(by_account)
    fits = fit_all(firmographics, icp)
    for account, fit in zip(firmographics.accounts, fits, strict=True):
        assert fit == fit_score(by_account[account], icp)
