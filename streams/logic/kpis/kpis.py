"""ABM KPIs as sums of integer counters each account contributes: the counters.

Every KPI is a sum or a ratio of sums over accounts, so each account contributes a small
bag of counters, filed under its current tier (and per campaign it met). A partition's
partial is the sum of its accounts' bags; totals are the sum of the partials; ratios are
taken only when reading (kpi_report.py). Counters are integers (money in micro-units,
time in ms) so a bag can be subtracted exactly when an account changes, and the partial
equals a fresh sum of its accounts whatever happened before: redelivery, a restart, a
partition moving to another worker.

Windowed figures need no timer: "engaged in the last 7 days" counts accounts by the day
they last engaged, and the reader picks the days inside its window.
"""

import itertools
from bisect import bisect_left
from collections.abc import Callable, Mapping

from schemas.inputs import Action, DealType
from streams.logic.rules import Rules
from streams.logic.signals.committee import UNKNOWN, personas_of
from streams.logic.signals.journey import funnel
from streams.logic.signals.outcomes import response_ms
from streams.logic.state.customers import customer_of
from streams.logic.state.opportunities import LOST, WON, reached
from streams.logic.state.roster import Roster
from streams.logic.state.state import AccountState, Opportunity
from streams.logic.state.windows import day_of, window_start

__all__ = [
    "CAMPAIGN",
    "CAMPAIGNS",
    "OWNERS",
    "PEOPLE_DAYS",
    "SCALE",
    "Bag",
    "contribution",
    "spend_contribution",
    "to_units",
]

SCALE = 1_000_000
"""Money and points are counted in millionths: exact integers, and exact to 1e-6 units."""
PEOPLE_DAYS = 7
"""Engaged people are counted in 7-day windows: distinct contacts over a week."""
CAMPAIGNS = "-"
"""The 'tier' of spend not tied to an account: counted overall, in no tier."""
CAMPAIGN = "@"
"""The 'tier' of per-campaign counters: `@|{metric}|{campaign_id}`, in no scope."""
OWNERS = "~"
"""The 'tier' of per-owner alert counters: `~|{metric}|{owner}`, in no scope."""
SOCIAL = (Action.SOCIAL_LIKE, Action.SOCIAL_SHARE, Action.SOCIAL_COMMENT)

Bag = dict[str, int]
"""Counter name -> value. Names: '{tier}|{metric}' or '{tier}|{metric}|{day or value}'."""


Adder = Callable[[str, int], None]


def to_units(value: float) -> int:
    return round(value * SCALE)


_ACTION_METRICS: dict[str, str] = {
    Action.EMAIL_DELIVERED.value: "delivered",
    Action.EMAIL_OPEN.value: "opens",
    Action.EMAIL_CLICK.value: "clicks",
    Action.AD_IMPRESSION.value: "ad_impressions",
    Action.AD_CLICK.value: "ad_clicks",
} | dict.fromkeys((action.value for action in SOCIAL), "social")
"""The day counters each action adds to (social: the three kinds together), by the
action's name as a day bucket keeps it."""


def _add(bag: Bag, key: str, value: int) -> None:
    bag[key] = bag.get(key, 0) + value


def _engagement(state: AccountState, bag: Bag, prefix: str, personas: dict[str, str]) -> None:
    """Per-day counters, written straight into the bag: this runs for every account at
    every view flush, so it walks each day's actions instead of asking for each metric.
    `personas` (from the roster) files each engaged contact's last day under its persona
    too: the buying committee's coverage, in whatever window the reader picks."""
    last_engaged: int | None = None
    for day, bucket in state.engagement.items():
        if bucket.points > 0:
            last_engaged = day if last_engaged is None else max(last_engaged, day)
            _add(bag, f"{prefix}engaged|{day}", 1)
        if points := to_units(bucket.points):
            _add(bag, f"{prefix}points|{day}", points)
        for action, n in bucket.actions.items():
            metric = _ACTION_METRICS.get(action)
            if metric is not None and n:
                _add(bag, f"{prefix}{metric}|{day}", n)
        if time_ms := round(bucket.time_on_site_s * 1000):
            _add(bag, f"{prefix}time_ms|{day}", time_ms)
        if bucket.ad_conversions:
            _add(bag, f"{prefix}ad_conversions|{day}", bucket.ad_conversions)
    if last_engaged is not None:
        _add(bag, f"{prefix}last_engaged|{last_engaged}", 1)
    contact_last = _contact_days(state, bag, prefix)
    persona_last: dict[str, int] = {}
    for contact, day in contact_last.items():
        _add(bag, f"{prefix}contact_last|{day}", 1)
        persona = personas.get(contact, UNKNOWN)
        if persona != UNKNOWN and day > persona_last.get(persona, -1):
            persona_last[persona] = day
    for persona, day in persona_last.items():
        _add(bag, f"{prefix}persona:{persona}|{day}", 1)


def _contact_days(state: AccountState, bag: Bag, prefix: str) -> dict[str, int]:
    """Each day a contact engaged, filed with the days since its engagement before (at
    most PEOPLE_DAYS): a contact counts in a 7-day window once, on its first day there,
    which is a day whose gap reaches back before the window. So the distinct contacts of
    any 7-day window are a sum of counters, exact whichever window the reader picks.
    Returns each contact's last day."""
    last: dict[str, int] = {}
    for day in sorted(state.engagement):
        for contact in state.engagement[day].contacts:
            before = last.get(contact)
            gap = PEOPLE_DAYS if before is None else min(day - before, PEOPLE_DAYS)
            _add(bag, f"{prefix}contact_gap:{gap}|{day}", 1)
            last[contact] = day
    return last


def _opportunities(state: AccountState, rules: Rules, add: Adder) -> None:
    won_any = False
    for opp in state.opportunities.values():
        add("opportunities", 1)
        add(f"created|{day_of(opp.first_seen)}", 1)
        furthest = reached(opp, rules.stages)
        for index in range(furthest + 1):
            add(f"reached|{rules.stages[index]}", 1)
        value = to_units(opp.amount)
        if opp.stage == WON:
            won_any = True
            assert opp.closed_at is not None
            cycle_ms = opp.closed_at - opp.first_seen
            add("won", 1)
            add("won_value", value)
            add("cycle_ms", cycle_ms)
            add(f"cycle|{cycle_ms}", 1)
            add(f"won|{day_of(opp.closed_at)}", 1)
            add(f"won_value|{day_of(opp.closed_at)}", value)
            if opp.deal_type == DealType.EXPANSION:
                add("expansion_value", value)
            elif opp.deal_type == DealType.RENEWAL:
                add("renewals_won", 1)
                add("renewals_won_value", value)
        elif opp.stage == LOST:
            assert opp.closed_at is not None
            add("lost", 1)
            add("lost_value", value)
            add(f"lost|{day_of(opp.closed_at)}", 1)
            if opp.deal_type == DealType.RENEWAL:
                add("renewals_lost", 1)
                add("renewals_lost_value", value)
        else:
            add("open", 1)
            add("open_value", value)
    if state.opportunities:
        add("with_opportunity", 1)
    if won_any:
        add("customers", 1)
        _retention(state, rules, add)


def _retention(state: AccountState, rules: Rules, add: Adder) -> None:
    """Upsells and cross-sells among the won deals (in close order: a product line is new
    if no deal closed before it sold one), and the day the customer churned or will."""
    revenue = rules.revenue
    won = sorted(
        (opp.closed_at or 0, opp_id, opp)
        for opp_id, opp in state.opportunities.items()
        if opp.stage == WON
    )
    bought: set[str] = set()
    for _closed, _id, opp in won:
        line = opp.product_line
        kind = None
        if opp.deal_type in revenue.cross_sell_deal_types:
            kind = "cross_sell"
        elif opp.deal_type in revenue.upsell_deal_types:
            kind = "cross_sell" if line is not None and line not in bought else "upsell"
        if kind is not None:
            add(kind, 1)
            add(f"{kind}_value", to_units(opp.amount))
        if line is not None:
            bought.add(line)
    customer = customer_of(state, revenue.renewal_term_days)
    if customer is None:
        return
    if customer.lost_on is not None:
        add(f"churned|{customer.lost_on}", 1)
    else:
        add(f"renewal_due|{customer.renewal_day}", 1)


def _journey(state: AccountState, rules: Rules, add: Adder) -> None:
    """The stage now, each funnel step reached (by day, for the series), and the time
    between consecutive steps (exact ms, for medians)."""
    add(f"stage:{state.stage}", 1)
    reached = state.reached
    if not reached:
        return
    for stage, at in reached.items():
        add(f"entered:{stage}|{day_of(at)}", 1)
    steps = funnel(rules)
    for lower, upper in itertools.pairwise(steps[1:]):
        if lower in reached and upper in reached:
            add(f"stage_ms:{lower}>{upper}|{reached[upper] - reached[lower]}", 1)


def contribution(
    state: AccountState, rules: Rules, bag: Bag | None = None, roster: Roster | None = None
) -> Bag:
    """The counters one account adds to its tier's KPIs (zeros left out), added into
    `bag` when given: a replay sums 10,000 accounts' counters in one bag (merging their
    own bags afterwards took 0.1 s, on 0.25 s to make them). `roster` is the account's,
    for the buying committee's coverage."""
    into: Bag = {} if bag is None else bag
    prefix = f"{state.tier}|"

    def add(name: str, value: int) -> None:
        if value:
            _add(into, prefix + name, value)

    add("accounts", 1)
    _engagement(state, into, prefix, personas_of(roster, rules) if roster else {})
    _opportunities(state, rules, add)
    _journey(state, rules, add)
    for day, units in state.spend.items():
        add(f"spend|{day}", units)
    if state.campaigns or state.campaign_spend:
        _campaigns(state, rules, into)
    if state.watches:
        _alerts(state, rules, into)
    return into


def _alerts(state: AccountState, rules: Rules, bag: Bag) -> None:
    """Each alert and what followed it, filed under the tier it was raised in and under
    its owner ("" for none), by group: `delivered`, or `held_out`. Open and closed watches
    count alike (an opportunity counts as soon as it follows), so a figure is the same
    whenever the horizon's timer fired."""
    sla_ms = rules.outcomes.response_sla_minutes * 60_000
    for w in state.watches:
        group = "held_out" if w.holdout else "delivered"
        counts = {"alerts_raised": 1, f"alerts_{group}": 1}
        keyed = None
        waited = response_ms(w)
        if waited is not None:
            counts[f"alerts_responded_{group}"] = 1
            if waited <= sla_ms:
                counts[f"alerts_sla_{group}"] = 1
            keyed = (f"alerts_response_s_{group}", waited // 1000)
        if w.opportunity is not None:
            counts[f"alerts_opportunity_{group}"] = 1
            counts[f"alerts_pipeline_{group}"] = to_units(w.opportunity[2])
            if w.opportunity[3] is True:
                counts[f"alerts_won_{group}"] = 1
        owner = w.owner or ""
        for name, value in counts.items():
            if not value:
                continue  # a pipeline of 0
            _add(bag, f"{w.tier}|{name}", value)
            _add(bag, f"{OWNERS}|{name}|{owner}", value)
        if keyed is not None:
            _add(bag, f"{w.tier}|{keyed[0]}|{keyed[1]}", 1)
            _add(bag, f"{OWNERS}|{keyed[0]}:{keyed[1]}|{owner}", 1)


def spend_contribution(campaign: str, spend: Mapping[int, int]) -> Bag:
    """Spend of a campaign, not of an account: overall only, and the campaign's own."""
    bag = {f"{CAMPAIGNS}|spend|{day}": units for day, units in spend.items() if units}
    if total := sum(spend.values()):
        bag[f"{CAMPAIGN}|spend|{campaign}"] = total
    return bag


def _campaigns(state: AccountState, rules: Rules, bag: Bag) -> None:
    """Per campaign, what this account adds: touched, engaged contacts, its spend, and
    the opportunities the campaign influenced (the account engaged with it in the
    influence window ending on the day the opportunity was created) or sourced (the
    account's first touch carried it, at or before its first opportunity)."""
    days = rules.attribution.influence_days
    opportunities = sorted((o.first_seen, i, o) for i, o in state.opportunities.items())
    for campaign, touch in state.campaigns.items():
        _add(bag, f"{CAMPAIGN}|touched|{campaign}", 1)
        if touch.contacts:
            _add(bag, f"{CAMPAIGN}|engaged_contacts|{campaign}", len(touch.contacts))
        for created, _id, opp in opportunities:
            at = bisect_left(touch.days, window_start(created, days))
            if at < len(touch.days) and touch.days[at] <= day_of(created):
                _credit(bag, "influenced", campaign, opp)
    for campaign, units in state.campaign_spend.items():
        _add(bag, f"{CAMPAIGN}|spend|{campaign}", units)
    first = state.first_touch
    if first and first[2] and opportunities and first[0] <= opportunities[0][0]:
        _credit(bag, "sourced", first[2], opportunities[0][2])


def _credit(bag: Bag, how: str, campaign: str, opp: Opportunity) -> None:
    value = to_units(opp.amount)
    _add(bag, f"{CAMPAIGN}|{how}|{campaign}", 1)
    _add(bag, f"{CAMPAIGN}|{how}_pipeline|{campaign}", value)
    if opp.stage == WON:
        _add(bag, f"{CAMPAIGN}|{how}_won|{campaign}", value)
