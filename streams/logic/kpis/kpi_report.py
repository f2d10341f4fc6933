"""The KPI report: every figure, for each scope, read from summed counters (kpis.py).

A scope is all accounts (`overall`), the target accounts (tiers 1-3 together), or one
tier; campaigns have rows of their own. Ratios, medians and windows are taken here, at
reading time, from integer sums, so a report is exact whichever worker summed what.
"""

import itertools
import math
import statistics
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

from schemas.common import from_ms
from schemas.outputs import PERSONAS
from streams.logic.kpis.kpis import CAMPAIGN, CAMPAIGNS, OWNERS, PEOPLE_DAYS, SCALE
from streams.logic.kpis.lift import METHOD, lift
from streams.logic.rules import Rules
from streams.logic.signals.committee import UNKNOWN
from streams.logic.signals.journey import funnel
from streams.logic.state.opportunities import LOST
from streams.logic.state.windows import DAY_MS, day_of

__all__ = ["TARGETS", "report"]

ENGAGEMENT_WINDOWS = (7, 30)
SERIES_DAYS = 30
"""Engagement is kept for the retention window, so its daily series covers 30 days."""
TARGETS = "targets"
"""Tiers 1-3 as one population: 'win rate of deals from target accounts' is read here,
where `overall` also counts accounts outside the list."""
KNOWN_PERSONAS = tuple(p for p in PERSONAS if p != UNKNOWN)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _product(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a * b


class _Scope:
    """The counters of one tier (or all), with the sums a report needs."""

    def __init__(self) -> None:
        self.plain: Counter[str] = Counter()
        self.keyed: dict[str, Counter[int]] = {}

    def add(self, metric: str, rest: str | None, value: int) -> None:
        if rest is None:
            self.plain[metric] += value
        else:
            self.keyed.setdefault(metric, Counter())[int(rest)] += value

    def since(self, metric: str, first_day: int) -> int:
        return sum(v for d, v in self.keyed.get(metric, {}).items() if d >= first_day)

    def by_day(self, metric: str) -> Counter[int]:
        return self.keyed.get(metric, Counter())

    @cached_property
    def engaged_people(self) -> Counter[int]:
        """Distinct contacts engaged in the PEOPLE_DAYS ending on each day, in one pass
        (read once the counters are all in). A contact-day with gap g (kpis.py's
        _contact_days) counts in the windows it is the first day of: those ending on it
        or the days after, until the window would start before its gap reached back."""
        out: Counter[int] = Counter()
        for gap in range(1, PEOPLE_DAYS + 1):
            for day, n in self.by_day(f"contact_gap:{gap}").items():
                for last in range(day + max(0, PEOPLE_DAYS - gap), day + PEOPLE_DAYS):
                    out[last] += n
        return out


def _median_days(cycles: Counter[int]) -> float | None:
    if not cycles:
        return None
    values = sorted(cycles.elements())
    return statistics.median(values) / DAY_MS


def _rank(values: Counter[int], share: float) -> int | None:
    """The nearest-rank quantile of a histogram: the smallest value with at least `share`
    of the counts at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    counted = list(itertools.accumulate(values[v] for v in ordered))
    return ordered[bisect_left(counted, math.ceil(share * counted[-1]))]


def _minutes(seconds: int | None) -> float | None:
    return None if seconds is None else seconds / 60


def _alert_kpis(s: _Scope) -> dict[str, Any]:
    """What followed the alerts (signals/outcomes.py; docs/kpis.md, Alerts). Response
    figures are of delivered alerts (a held-out alert told no seller); opportunity rates of
    each group; lift is the one over the other."""
    p = s.plain
    delivered, held = p["alerts_delivered"], p["alerts_held_out"]
    with_d, with_h = p["alerts_opportunity_delivered"], p["alerts_opportunity_held_out"]
    waited = s.by_day("alerts_response_s_delivered")
    measured = lift(with_d, delivered, with_h, held)
    interval = None if measured.low is None else [measured.low, measured.high]
    return {
        "raised": p["alerts_raised"],
        "delivered": delivered,
        "held_out": held,
        "responded": p["alerts_responded_delivered"],
        "responded_within_sla": p["alerts_sla_delivered"],
        "response_rate": _ratio(p["alerts_responded_delivered"], delivered),
        "sla_rate": _ratio(p["alerts_sla_delivered"], delivered),
        "response_minutes_p50": _minutes(_rank(waited, 0.5)),
        "response_minutes_p90": _minutes(_rank(waited, 0.9)),
        "responded_held_out": p["alerts_responded_held_out"],
        "opportunities_delivered": with_d,
        "opportunities_held_out": with_h,
        "opportunity_rate_delivered": _ratio(with_d, delivered),
        "opportunity_rate_held_out": _ratio(with_h, held),
        "lift": measured.value,
        "lift_ci_95": interval,
        "lift_method": METHOD,
        "lift_note": measured.note,
        "pipeline_per_alert": _ratio(p["alerts_pipeline_delivered"] / SCALE, delivered),
        "pipeline_per_alert_held_out": _ratio(p["alerts_pipeline_held_out"] / SCALE, held),
        "won_delivered": p["alerts_won_delivered"],
        "won_held_out": p["alerts_won_held_out"],
    }


def _engagement_kpis(s: _Scope, today: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for days in ENGAGEMENT_WINDOWS:
        out[f"engaged_accounts_{days}d"] = s.since("last_engaged", today - days + 1)
    first = today - SERIES_DAYS + 1
    engaged = out[f"engaged_accounts_{SERIES_DAYS}d"]
    delivered = s.since("delivered", first)
    impressions = s.since("ad_impressions", first)
    conversions = s.since("ad_conversions", first)
    by_persona = {p: s.since(f"persona:{p}", first) for p in KNOWN_PERSONAS}
    return {
        **out,
        "engaged_contacts_per_account_30d": _ratio(s.since("contact_last", first), engaged),
        "accounts_engaged_by_persona_30d": by_persona,
        "decision_maker_coverage_30d": _ratio(by_persona["decision_maker"], engaged),
        "personas_per_engaged_account_30d": _ratio(sum(by_persona.values()), engaged),
        "engagement_points_30d": s.since("points", first) / SCALE,
        "time_on_site_s_30d": s.since("time_ms", first) / 1000,
        "email_open_rate_30d": _ratio(s.since("opens", first), delivered),
        "email_click_rate_30d": _ratio(s.since("clicks", first), delivered),
        "ad_click_through_rate_30d": _ratio(s.since("ad_clicks", first), impressions),
        "ad_conversions_30d": conversions,
        "ad_conversion_rate_per_impression_30d": _ratio(conversions, impressions),
        "ad_conversion_rate_per_click_30d": _ratio(conversions, s.since("ad_clicks", first)),
        "social_engagement_30d": s.since("social", first),
    }


def _people_kpis(s: _Scope, today: int) -> dict[str, Any]:
    """Is the list of engaged people growing: this week's against the week before."""
    now, before = s.engaged_people[today], s.engaged_people[today - PEOPLE_DAYS]
    return {
        "engaged_contacts_7d": now,
        "engaged_contacts_prior_7d": before,
        "engaged_contacts_week_over_week": _ratio(now - before, before),
        "engaged_contacts_per_account_7d": _ratio(now, s.plain["accounts"]),
    }


def _pipeline_kpis(s: _Scope, rules: Rules, tiered: int, with_opportunity: int) -> dict[str, Any]:
    funnel_stages = [stage for stage in rules.stages if stage != LOST]
    funnel = {stage: s.plain[f"reached|{stage}"] for stage in funnel_stages}
    return {
        "opportunities_created": s.plain["opportunities"],
        "accounts_with_opportunity": with_opportunity,
        "account_to_opportunity_rate": _ratio(with_opportunity, tiered),
        "stage_funnel": funnel,
        "stage_conversion": {
            f"{a}->{b}": _ratio(funnel[b], funnel[a]) for a, b in itertools.pairwise(funnel_stages)
        },
        "open_pipeline_value": s.plain["open_value"] / SCALE,
    }


def _outcome_kpis(s: _Scope) -> dict[str, Any]:
    p = s.plain
    won, lost = p["won"], p["lost"]
    won_value, lost_value = p["won_value"] / SCALE, p["lost_value"] / SCALE
    spend = sum(s.by_day("spend").values()) / SCALE
    win_rate = _ratio(won, won + lost)
    deal_size = _ratio(won_value, won)
    cycle = _ratio(p["cycle_ms"] / DAY_MS, won)
    velocity = None
    if win_rate is not None and deal_size is not None and cycle:
        velocity = p["open"] * win_rate * deal_size / cycle
    return {
        "won": won,
        "lost": lost,
        "win_rate": win_rate,
        "win_rate_by_value": _ratio(won_value, won_value + lost_value),
        "won_revenue": won_value,
        "average_deal_size": deal_size,
        "sales_cycle_days_mean": cycle,
        "sales_cycle_days_median": _median_days(s.by_day("cycle")),
        "open_opportunities": p["open"],
        "sales_velocity_per_day": velocity,
        "spend": spend,
        "roi": _ratio(won_value - spend, spend),
    }


def _retention_kpis(s: _Scope, today: int, rules: Rules) -> dict[str, Any]:
    """Renewals, expansion and churn, and CLV as an expected value (docs/kpis.md)."""
    p = s.plain
    revenue = rules.revenue
    term = revenue.renewal_term_days
    lost_on, due = s.by_day("churned"), s.by_day("renewal_due")
    active = sum(n for day, n in due.items() if day > today)
    churned = sum(lost_on.values()) + sum(n for day, n in due.items() if day <= today)
    recent = sum(n for day, n in lost_on.items() if today - term < day <= today)
    recent += sum(n for day, n in due.items() if today - term < day <= today)
    churn_rate = _ratio(recent, active + recent)
    lifetime = None
    if churn_rate is not None:
        years = revenue.max_lifetime_years
        lifetime = min(term / 365 / churn_rate, years) if churn_rate else years
    won_year = sum(v for day, v in s.by_day("won_value").items() if today - 365 < day <= today)
    per_customer = _ratio(won_year / SCALE, active)
    renewals_due = p["renewals_won_value"] + p["renewals_lost_value"]
    retained = p["renewals_won_value"] + p["upsell_value"] + p["cross_sell_value"]
    return {
        "customers": p["customers"],
        "active_customers": active,
        "churned_customers": churned,
        "renewal_rate": _ratio(p["renewals_won"], p["renewals_won"] + p["renewals_lost"]),
        "expansion_revenue": p["expansion_value"] / SCALE,
        "upsells": p["upsell"],
        "upsell_revenue": p["upsell_value"] / SCALE,
        "cross_sells": p["cross_sell"],
        "cross_sell_revenue": p["cross_sell_value"] / SCALE,
        "net_revenue_retention": _ratio(retained, renewals_due),
        "annual_churn_rate": churn_rate,
        "expected_lifetime_years": lifetime,
        "annual_revenue_per_customer": per_customer,
        "clv": _ratio(p["won_value"] / SCALE, p["customers"]),
        "clv_expected": _product(per_customer, lifetime),
    }


def _journey_kpis(s: _Scope, rules: Rules) -> dict[str, Any]:
    steps = funnel(rules)
    reached = {stage: sum(s.by_day(f"entered:{stage}").values()) for stage in steps[1:]}
    pairs = list(itertools.pairwise(steps[1:]))
    return {
        "accounts_by_stage": {stage: s.plain[f"stage:{stage}"] for stage in steps},
        "reached": reached,
        "conversion": {f"{a}->{b}": _ratio(reached[b], reached[a]) for a, b in pairs},
        "median_days": {f"{a}->{b}": _median_days(s.by_day(f"stage_ms:{a}>{b}")) for a, b in pairs},
    }


def _series(
    s: _Scope, today: int, rules: Rules, named: dict[str, _Scope]
) -> dict[str, dict[str, Any]]:
    """Per event-time day: engagement for the last 30 days, outcomes for all history, and
    engaged people per scope of `named` (the report's scopes) where a whole 7-day window
    ending that day lies inside the 30 (null before)."""
    engagement = (
        "ad_conversions",
        "engaged",
        "points",
        "delivered",
        "opens",
        "clicks",
        "ad_impressions",
        "ad_clicks",
        "social",
        "time_ms",
    )
    steps = funnel(rules)[1:]
    outcomes = ("created", "won", "won_value", "lost", "spend", *(f"entered:{s}" for s in steps))
    days: dict[int, dict[str, Any]] = {}
    for metric in engagement + outcomes:
        for day, value in s.by_day(metric).items():
            if metric in engagement and day <= today - SERIES_DAYS:
                continue
            days.setdefault(day, {})[metric] = value
    series = {}
    people_from = today - SERIES_DAYS + PEOPLE_DAYS
    for day in sorted(days):
        row = days[day]
        won, lost = row.get("won", 0), row.get("lost", 0)
        people = {
            name: scope.engaged_people[day] if day >= people_from else None
            for name, scope in named.items()
        }
        per_account = {
            name: None if n is None else _ratio(n, named[name].plain["accounts"])
            for name, n in people.items()
        }
        series[from_ms(day * DAY_MS).date().isoformat()] = {
            "engaged_accounts": row.get("engaged", 0),
            "engagement_points": row.get("points", 0) / SCALE,
            "emails_delivered": row.get("delivered", 0),
            "email_opens": row.get("opens", 0),
            "email_clicks": row.get("clicks", 0),
            "ad_impressions": row.get("ad_impressions", 0),
            "ad_clicks": row.get("ad_clicks", 0),
            "ad_conversions": row.get("ad_conversions", 0),
            "social_engagement": row.get("social", 0),
            "time_on_site_s": row.get("time_ms", 0) / 1000,
            "opportunities_created": row.get("created", 0),
            "won": won,
            "won_revenue": row.get("won_value", 0) / SCALE,
            "lost": lost,
            "win_rate": _ratio(won, won + lost),
            "spend": row.get("spend", 0) / SCALE,
            "stage_entries": {stage: row.get(f"entered:{stage}", 0) for stage in steps},
            "engaged_contacts_7d": people,
            "engaged_contacts_per_account_7d": per_account,
        }
    return series


TARGET_TIERS = ("1", "2", "3")
"""The tiers whose accounts are the target list: the `targets` scope sums them."""


def _campaign_report(counters: dict[str, Counter[str]]) -> dict[str, dict[str, Any]]:
    out = {}
    for campaign in sorted(counters):
        c = counters[campaign]
        spend = c["spend"] / SCALE
        won = c["influenced_won"] / SCALE
        out[campaign] = {
            "accounts_touched": c["touched"],
            "engaged_contacts": c["engaged_contacts"],
            "spend": spend,
            "opportunities_influenced": c["influenced"],
            "pipeline_influenced": c["influenced_pipeline"] / SCALE,
            "won_revenue_influenced": won,
            "opportunities_sourced": c["sourced"],
            "pipeline_sourced": c["sourced_pipeline"] / SCALE,
            "won_revenue_sourced": c["sourced_won"] / SCALE,
            "roi": _ratio(won - spend, spend),
        }
    return out


NO_OWNER = "(no owner)"
"""The owners table's row for alerts of accounts that had no owner."""


def _scopes(
    counters: Iterable[tuple[str, int]],
    campaigns: dict[str, Counter[str]],
    owners: dict[str, _Scope],
) -> dict[str, _Scope]:
    """Counters by scope; the per-campaign ones into `campaigns` (campaign -> figure), the
    per-owner ones into `owners`."""
    scopes: dict[str, _Scope] = {"all": _Scope(), TARGETS: _Scope()}
    for key, value in counters:
        tier, _, rest = key.partition("|")
        if tier == CAMPAIGN:
            figure, _, campaign = rest.partition("|")
            campaigns.setdefault(campaign, Counter())[figure] += value
            continue
        if tier == OWNERS:
            figure, _, owner = rest.partition("|")
            metric, _, arg = figure.partition(":")
            owners.setdefault(owner or NO_OWNER, _Scope()).add(metric, arg or None, value)
            continue
        metric, _, arg = rest.partition("|")
        if metric == "reached":  # keyed by stage name: a plain counter per stage
            metric, arg = f"reached|{arg}", ""
        into = ("all", tier, TARGETS) if tier in TARGET_TIERS else ("all", tier)
        for scope in into:
            scopes.setdefault(scope, _Scope()).add(metric, arg or None, value)
    return scopes


def report(counters: Mapping[str, int], as_of: int, rules: Rules) -> dict[str, Any]:
    """Every KPI overall, for the target accounts (tiers 1-3) and per tier, plus the daily
    series, from summed counters.

    `as_of` (epoch ms) is 'now' for the 7- and 30-day windows. A ratio with an empty
    denominator is None (null in JSON), never an error or a made-up 0.
    """
    campaigns: dict[str, Counter[str]] = {}
    owners: dict[str, _Scope] = {}
    scopes = _scopes(counters.items(), campaigns, owners)
    today = day_of(as_of)
    tiers = {int(t) for t in scopes if t not in ("all", TARGETS, CAMPAIGNS)} | {0, 1, 2, 3}
    targets = scopes[TARGETS].plain
    tiered, tiered_with = targets["accounts"], targets["with_opportunity"]

    named = {"overall": scopes["all"], TARGETS: scopes[TARGETS]} | {
        str(t): scopes.get(str(t), _Scope()) for t in sorted(tiers)
    }

    def one(scope: _Scope, tier: int | None) -> dict[str, Any]:
        """`tier` None: overall or targets, whose conversion base is the target list."""
        accounts = scope.plain["accounts"]
        if tier is None:
            with_opp, base = tiered_with, tiered
        else:
            with_opp, base = scope.plain["with_opportunity"], accounts if tier > 0 else 0
        return {
            "accounts": accounts,
            **_engagement_kpis(scope, today),
            **_people_kpis(scope, today),
            **_pipeline_kpis(scope, rules, base, with_opp),
            **_outcome_kpis(scope),
            **_retention_kpis(scope, today, rules),
            "journey": _journey_kpis(scope, rules),
            "alerts": _alert_kpis(scope),
        }

    return {
        "as_of": from_ms(as_of).isoformat().replace("+00:00", "Z"),
        "overall": one(scopes["all"], None),
        TARGETS: one(scopes[TARGETS], None),
        "tiers": {str(t): one(named[str(t)], t) for t in sorted(tiers)},
        "daily": _series(scopes["all"], today, rules, named),
        "campaigns": _campaign_report(campaigns),
        "owners": {owner: _alert_kpis(owners[owner]) for owner in sorted(owners)},
    }
