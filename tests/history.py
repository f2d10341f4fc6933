"""A synthetic but realistic ABM history, and its KPIs computed independently from the rows.

`generate` gives (topic kind, payload) pairs in the order they are sent: profiles first,
then four months of engagement with a weekly rhythm, intent, opportunities moving through
stages (some skipping, some reopened, some closing twice), account and campaign spend;
then a few percent of the events are delivered late (up to two days) and a few percent
twice. Contact rosters come with the profiles for some accounts, in the middle of the
stream for others (after their contacts engaged), and a few are replaced later.
`ground_truth` computes every KPI from the distinct rows in plain Python, without the
pipeline's code: only the tiers, which the rules decide, are taken from the pipeline,
and a contact's persona is the one its title was drawn for (TITLES).
"""

import itertools
import math
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from streams.dev.synth import STAGES, draw_action
from streams.logic.rules import Rules

__all__ = ["DAY", "TITLES", "alert_outcomes", "generate", "ground_truth"]

DAY = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CAMPAIGN_IDS = ["abm-q3", "brand", "events", "paid-social"]
TITLES: dict[tuple[str, str | None], str] = {
    ("Chief Revenue Officer", "c_level"): "decision_maker",
    ("VP Marketing", None): "decision_maker",
    ("Head of Growth", "director"): "decision_maker",
    ("Director, Demand Generation", "director"): "champion",
    ("Senior Director of Sales", None): "champion",
    ("Marketing Operations Manager", "manager"): "influencer",
    ("Senior Data Analyst", None): "influencer",
    ("Account Executive", None): "user",
    ("Sales Development Representative", "entry"): "user",
}
"""(title, seniority) -> the persona the default persona rules give it (docs/rules.md)."""
RESPONSE_DELAYS = [(60_000, 4 * 3_600_000), (4 * 3_600_000, 3 * DAY), (3 * DAY, 20 * DAY)]
"""How long after the middle visit of a busy day its follow-up starts: within the default SLA,
later that week, or weeks later."""


def _engagement(rng: random.Random, account: str, start: int, days: int, n: list[int]) -> list:
    rows = []
    level = rng.choice([0.0, 0.3, 1.0, 2.5])
    for d in range(days):
        weekday = datetime.fromtimestamp((start + d * DAY) / 1000, UTC).weekday()
        rate = level * (0.3 if weekday >= 5 else 1.0)
        count = sum(1 for _ in range(6) if rng.random() < rate / 6)
        for _ in range(count):
            action, channel, _ = draw_action(rng)
            n[0] += 1
            row: dict[str, Any] = {
                "event_id": f"e{n[0]}",
                "account_id": account,
                "channel": channel,
                "action": action,
                "occurred_at": start + d * DAY + rng.randrange(DAY),
            }
            if rng.random() < 0.9:
                row["contact_id"] = f"{account}-c{rng.randrange(6)}"
            if action == "page_view":
                row["duration_s"] = round(rng.uniform(5, 300), 1)
            if rng.random() < 0.4:
                row["campaign_id"] = rng.choice(CAMPAIGN_IDS)
            rows.append(("engagement", row))
    return rows


def _opportunity(rng: random.Random, account: str, opp: str, start: int, end: int) -> list:
    at = rng.randrange(start, end)
    amount = round(rng.uniform(5_000, 200_000), 2)
    deal_type = rng.choice(["new", "new", "expansion", "renewal"])
    line = rng.choice([None, "core", "core", "analytics", "security"])
    path = ["prospecting"]
    for stage in STAGES[1:]:
        if rng.random() < 0.7:
            path.append(stage)  # else skipped
    outcome = rng.random()
    if outcome < 0.35:
        path.append("closed_won")
        if rng.random() < 0.05:
            path += ["negotiation", "closed_won"]  # reopened and won again
        if rng.random() < 0.05:
            path.append("closed_won")  # the CRM sends the close twice
    elif outcome < 0.7:
        path.append("closed_lost")
    rows = []
    for i, stage in enumerate(path):
        if at >= end:
            break
        if rng.random() < 0.2:
            amount = round(amount * rng.uniform(0.9, 1.1), 2)
        rows.append(
            (
                "deals",
                {
                    "event_id": f"{opp}-{i}",
                    "account_id": account,
                    "opportunity_id": opp,
                    "stage": stage,
                    "amount": amount,
                    "deal_type": deal_type,
                    "currency": "USD",
                    "occurred_at": at,
                }
                | ({"product_line": line} if line else {}),
            )
        )
        at += rng.randrange(DAY // 2, 15 * DAY)
    return rows


def generate(seed: int, accounts: int, days: int, end: int) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    sales = random.Random(seed + 1)  # its own draws: the rest of the history stays as it was
    start = (end - days * DAY) // DAY * DAY
    end = start + days * DAY  # whole days: the history depends on the date, not the hour
    profiles, timed = [], []
    n = [0]
    assigned: list[tuple[str, dict]] = []
    for i in range(accounts):
        account = f"acct-{i:04d}"
        profile = {
            "account_id": account,
            "name": f"Account {i}",
            "fit_score": rng.choice([40, 65, 72, 80, 88, 95]),
            "expected_acv": rng.choice([15_000, 40_000, 60_000, 120_000]),
        }
        owner: str | None = f"rep{i % 7}@example.com"
        if sales.random() < 0.15:  # no owner yet: most are assigned one later, in the stream
            if sales.random() < 0.75:
                assigned.append(("accounts", profile | {"owner": owner}))
            else:
                owner = None
            profiles.append(("accounts", profile))
        else:
            profiles.append(("accounts", profile | {"owner": owner}))
        engagement = _engagement(rng, account, start, days, n)
        timed += engagement
        timed += _follow_up(sales, account, owner, engagement, end)
        for j in range(rng.randrange(0, 6) if rng.random() < 0.5 else 0):
            timed.append(
                (
                    "intent",
                    {
                        "event_id": f"{account}-i{j}",
                        "account_id": account,
                        "provider": "bombora",
                        "topic": rng.choice(["crm", "erp", "data platform"]),
                        "score": rng.randrange(20, 96),
                        "occurred_at": rng.randrange(start, end),
                    },
                )
            )
        for j in range(rng.randrange(0, 17)):
            timed += _opportunity(rng, account, f"{account}-o{j}", start, end)
        for j in range(rng.randrange(0, 4) if rng.random() < 0.3 else 0):
            timed.append(
                (
                    "spend",
                    {
                        "event_id": f"{account}-s{j}",
                        "campaign_id": "abm-q3",
                        "account_id": account,
                        "amount": round(rng.uniform(100, 5_000), 2),
                        "occurred_at": rng.randrange(start, end),
                    },
                )
            )
    for j in range(50):
        timed.append(
            (
                "spend",
                {
                    "event_id": f"campaign-s{j}",
                    "campaign_id": rng.choice(["brand", "events", "paid-social"]),
                    "amount": round(rng.uniform(1_000, 20_000), 2),
                    "occurred_at": rng.randrange(start, end),
                },
            )
        )

    rosters = [
        roster
        for i in range(accounts)
        if (roster := _roster(rng, f"acct-{i:04d}", start, end)) is not None
    ]

    # Delivery order: event time, but 5% arrive up to two days late and 5% twice.
    def delivered_at(row: dict) -> int:
        late = rng.randrange(2 * DAY) if rng.random() < 0.05 else 0
        return row["occurred_at"] + late

    order = sorted(timed, key=lambda r: delivered_at(r[1]))
    stream: list[tuple[str, dict]] = []
    for i, item in enumerate(order):
        stream.append(item)
        if rng.random() < 0.05:
            order.insert(min(len(order), i + 1 + rng.randrange(50)), item)
    for row in assigned:
        stream.insert(sales.randrange(len(stream) + 1), row)
    first = []
    for roster in rosters:
        if rng.random() < 0.6:
            first.append(roster)
        else:  # after some of its contacts engaged
            stream.insert(rng.randrange(len(stream) + 1), roster)
        if rng.random() < 0.15:  # replaced later: people change titles or leave
            account = roster[1]["account_id"]
            at = rng.randrange(len(stream) + 1)
            replaced = _roster(rng, account, start, end, always=True)
            assert replaced is not None
            stream.insert(at, replaced)
    return profiles + first + stream


def _follow_up(
    rng: random.Random, account: str, owner: str | None, engagement: list, end: int
) -> list:
    """Sales activities after the account's busy days, as reps answer the alerts those
    raise: mostly by the owner, sometimes by another rep; soon (within the 240-minute
    SLA), later, or never; and now and then an opportunity in the month after."""
    busy: dict[int, list[int]] = defaultdict(list)
    for _, row in engagement:
        busy[_day(row["occurred_at"])].append(row["occurred_at"])
    rows: list[tuple[str, dict]] = []
    for day, times in sorted(busy.items()):
        if len(times) < 3 or rng.random() < 0.4:
            continue
        at = sorted(times)[len(times) // 2] + rng.randrange(*rng.choice(RESPONSE_DELAYS))
        for _ in range(rng.randrange(1, 4)):
            if at >= end:
                break
            rep = owner if owner and rng.random() < 0.75 else f"rep{rng.randrange(9)}@example.com"
            activity = {
                "event_id": f"{account}-a{len(rows)}",
                "account_id": account,
                "rep_id": rep,
                "type": rng.choice(["call", "email", "meeting", "social"]),
                "occurred_at": at,
            }
            rows.append(("sales_activities", activity))
            at += rng.randrange(60_000, DAY)
        if rng.random() < 0.15 and (day + 2) * DAY < end:
            rows += _opportunity(
                rng, account, f"{account}-f{day}", (day + 1) * DAY, min((day + 28) * DAY, end)
            )
    return rows


def _roster(
    rng: random.Random, account: str, start: int, end: int, always: bool = False
) -> tuple[str, dict] | None:
    """Some of the account's six contacts (the others stay unknown), with titles."""
    if not always and rng.random() < 0.3:
        return None
    contacts = []
    for c in range(6):
        if rng.random() < 0.75:
            title, seniority = rng.choice(list(TITLES))
            contact = {"contact_id": f"{account}-c{c}", "title": title}
            if seniority is not None:
                contact["seniority"] = seniority
            contacts.append(contact)
    payload = {"account_id": account, "contacts": contacts, "updated_at": rng.randrange(start, end)}
    return ("contacts", payload)


def _personas(rows: list[tuple[str, dict]]) -> dict[tuple[str, str], str]:
    """(account, contact) -> persona, by each account's last roster."""
    last = {r["account_id"]: r for kind, r in rows if kind == "contacts"}
    return {
        (account, c["contact_id"]): TITLES[c["title"], c.get("seniority")]
        for account, r in last.items()
        for c in r["contacts"]
    }


def _distinct(rows: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    seen, out = set(), []
    for kind, row in rows:
        if kind == "contacts":
            continue  # read by _personas
        key = (kind, row.get("event_id") or row["account_id"])
        if key not in seen:
            seen.add(key)
            out.append((kind, row))
    return out


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _converts(r: dict, rules: Rules) -> bool:
    """An ad conversion, as rules.ad_conversions says."""
    conversions = rules.ad_conversions
    return r["action"] in conversions.actions and (
        "campaign_id" in r or not conversions.campaign_required
    )


def _engaged_people(rows: list[tuple[str, dict]], rules: Rules) -> set[tuple[str, str, int]]:
    """(account, contact, day) of every action worth points by a known contact."""
    return {
        (r["account_id"], r["contact_id"], _day(r["occurred_at"]))
        for kind, r in rows
        if kind == "engagement" and "contact_id" in r and rules.weights[r["action"]] > 0
    }


def _people_in(people: set, members: set[str], last_day: int) -> int:
    """Distinct contacts of `members` engaged in the 7 days ending on `last_day`."""
    return len({(a, c) for a, c, d in people if a in members and last_day - 7 < d <= last_day})


def _day(ms: int) -> int:
    return ms // DAY


def _opportunity_facts(events: list[dict], stages: list[str]) -> dict:
    order = {s: i for i, s in enumerate(stages)}
    events = sorted(
        events,
        key=lambda e: (
            e["occurred_at"],
            order[e["stage"]],
            e["amount"],
            e["deal_type"],
            e["currency"],
            e.get("product_line", ""),
        ),
    )
    last = events[-1]
    closed_at = None
    if last["stage"] in ("closed_won", "closed_lost"):
        closed_at = last["occurred_at"]
        for e in reversed(events):
            if e["stage"] != last["stage"]:
                break
            closed_at = e["occurred_at"]
    furthest = max((order[e["stage"]] for e in events if e["stage"] != "closed_lost"), default=-1)
    return {
        "account": last["account_id"],
        "stage": last["stage"],
        "amount": last["amount"],
        "type": last["deal_type"],
        "line": last.get("product_line"),
        "id": last["opportunity_id"],
        "first": events[0]["occurred_at"],
        "closed_at": closed_at,
        "furthest": furthest,
    }


def _people_kpis(people: set, members: set[str], today: int) -> dict[str, Any]:
    now, before = _people_in(people, members, today), _people_in(people, members, today - 7)
    return {
        "engaged_contacts_7d": now,
        "engaged_contacts_prior_7d": before,
        "engaged_contacts_week_over_week": _ratio(now - before, before),
        "engaged_contacts_per_account_7d": _ratio(now, len(members)),
    }


def _retention(facts: list[dict], today: int, rules: Rules) -> dict[str, Any]:
    """Renewals, upsells and cross-sells, churn and expected CLV, per docs/kpis.md."""
    revenue = rules.revenue
    term = revenue.renewal_term_days
    upsell = {str(t) for t in revenue.upsell_deal_types}
    cross = {str(t) for t in revenue.cross_sell_deal_types}
    by_account: dict[str, list[dict]] = defaultdict(list)
    for f in facts:
        by_account[f["account"]].append(f)
    kinds: dict[str, list[float]] = {"upsell": [], "cross_sell": []}
    churn_days, active = [], 0
    for account_facts in by_account.values():
        won = sorted(
            (f for f in account_facts if f["stage"] == "closed_won"),
            key=lambda f: (f["closed_at"], f["id"]),
        )
        if not won:
            continue
        bought: set[str] = set()
        for f in won:
            kind = None
            if f["type"] in cross:
                kind = "cross_sell"
            elif f["type"] in upsell:
                kind = "cross_sell" if f["line"] and f["line"] not in bought else "upsell"
            if kind:
                kinds[kind].append(f["amount"])
            if f["line"]:
                bought.add(f["line"])
        last = max(f["closed_at"] for f in won)
        lost = [
            f["closed_at"]
            for f in account_facts
            if f["stage"] == "closed_lost" and f["type"] == "renewal" and f["closed_at"] > last
        ]
        if lost and _day(min(lost)) < _day(last) + term:  # lost before the renewal date
            churn_days.append(_day(min(lost)))
        elif _day(last) + term <= today:
            churn_days.append(_day(last) + term)
        else:
            active += 1
    recent = sum(1 for d in churn_days if today - term < d <= today)
    rate = _ratio(recent, active + recent)
    lifetime = None
    if rate is not None:
        cap = revenue.max_lifetime_years
        lifetime = min(term / 365 / rate, cap) if rate else cap
    won_year = sum(
        f["amount"]
        for f in facts
        if f["stage"] == "closed_won" and today - 365 < _day(f["closed_at"]) <= today
    )
    per_customer = _ratio(won_year, active)
    renewals = [f for f in facts if f["type"] == "renewal" and f["closed_at"] is not None]
    renewed = sum(f["amount"] for f in renewals if f["stage"] == "closed_won")
    due = sum(f["amount"] for f in renewals)
    return {
        "active_customers": active,
        "churned_customers": len(churn_days),
        "upsells": len(kinds["upsell"]),
        "upsell_revenue": sum(kinds["upsell"]),
        "cross_sells": len(kinds["cross_sell"]),
        "cross_sell_revenue": sum(kinds["cross_sell"]),
        "net_revenue_retention": _ratio(
            renewed + sum(kinds["upsell"]) + sum(kinds["cross_sell"]), due
        ),
        "annual_churn_rate": rate,
        "expected_lifetime_years": lifetime,
        "annual_revenue_per_customer": per_customer,
        "clv_expected": None
        if per_customer is None or lifetime is None
        else per_customer * lifetime,
    }


def _campaigns(rows: list[tuple[str, dict]], rules: Rules) -> dict[str, dict]:
    """Per campaign: touches, engaged contacts, spend, influenced and sourced deals."""
    window = rules.attribution.influence_days
    touched: dict[str, set[str]] = defaultdict(set)
    contacts: dict[str, set[tuple[str, str]]] = defaultdict(set)
    engaged: dict[tuple[str, str], set[int]] = defaultdict(set)
    first_touch: dict[str, tuple[int, str, str]] = {}
    spend: dict[str, float] = defaultdict(float)
    opps: dict[str, list[dict]] = defaultdict(list)
    for kind, r in rows:
        if kind == "spend":
            spend[r["campaign_id"]] += r["amount"]
        elif kind == "deals":
            opps[r["opportunity_id"]].append(r)
        elif kind == "engagement":
            account = r["account_id"]
            touch = (r["occurred_at"], r["event_id"], r.get("campaign_id", ""))
            first_touch[account] = min(first_touch.get(account, touch), touch)
            campaign = r.get("campaign_id")
            if campaign is None:
                continue
            touched[campaign].add(account)
            if rules.weights[r["action"]] > 0:
                engaged[account, campaign].add(_day(r["occurred_at"]))
                if "contact_id" in r:
                    contacts[campaign].add((account, r["contact_id"]))
    by_account: dict[str, list[dict]] = defaultdict(list)
    for events in opps.values():
        f = _opportunity_facts(events, rules.stages)
        by_account[f["account"]].append(f)
    credit: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def give(how: str, campaign: str, f: dict) -> None:
        credit[campaign][how] += 1
        credit[campaign][f"{how}_pipeline"] += f["amount"]
        credit[campaign][f"{how}_won"] += f["amount"] if f["stage"] == "closed_won" else 0

    for (account, campaign), days in engaged.items():
        for f in by_account[account]:
            created = _day(f["first"])
            if any(created - window < d <= created for d in days):
                give("influenced", campaign, f)
    for account, (at, _, campaign) in first_touch.items():
        facts = by_account[account]
        if campaign and facts:
            first = min(facts, key=lambda f: (f["first"], f["id"]))
            if at <= first["first"]:
                give("sourced", campaign, first)
    out = {}
    for campaign in sorted(set(touched) | set(spend)):
        c = credit[campaign]
        cost = spend[campaign]
        out[campaign] = {
            "accounts_touched": len(touched[campaign]),
            "engaged_contacts": len(contacts[campaign]),
            "spend": cost,
            "opportunities_influenced": int(c["influenced"]),
            "pipeline_influenced": c["influenced_pipeline"],
            "won_revenue_influenced": c["influenced_won"],
            "opportunities_sourced": int(c["sourced"]),
            "pipeline_sourced": c["sourced_pipeline"],
            "won_revenue_sourced": c["sourced_won"],
            "roi": _ratio(c["influenced_won"] - cost, cost),
        }
    return out


Journey = tuple[str, dict[str, int]]
"""An account's journey stage and when it first reached each step (decided by the rules,
so taken from the engine like the tiers; the sums over them are what is checked)."""


def _journey_kpis(members: set[str], journeys: dict[str, Journey], rules: Rules) -> dict:
    steps = ["unaware", *[r.stage for r in reversed(rules.journey)]]
    mine = [journeys.get(a, ("unaware", {})) for a in members]
    reached = {s: sum(1 for _, r in mine if s in r) for s in steps[1:]}
    pairs = list(itertools.pairwise(steps[1:]))
    waits = {(a, b): [(r[b] - r[a]) / DAY for _, r in mine if a in r and b in r] for a, b in pairs}
    return {
        "accounts_by_stage": {s: sum(1 for stage, _ in mine if stage == s) for s in steps},
        "reached": reached,
        "conversion": {f"{a}->{b}": _ratio(reached[b], reached[a]) for a, b in pairs},
        "median_days": {
            f"{a}->{b}": statistics.median(w) if (w := waits[a, b]) else None for a, b in pairs
        },
    }


def _scope_kpis(
    rows: list[tuple[str, dict]],
    members: set[str],
    today: int,
    rules: Rules,
    conversion: tuple[set[str], set[str]],
    personas: dict[tuple[str, str], str],
    journeys: dict[str, Journey],
    campaign_spend: float = 0.0,
) -> dict[str, Any]:
    """KPIs of the accounts in `members`; `conversion` is (accounts whose opportunities
    count, the denominator's accounts) for the account-to-opportunity rate."""
    weights = rules.weights
    last_engaged: dict[str, int] = {}
    contact_last: dict[tuple[str, str], int] = {}
    window = today - 29
    sums: dict[str, float] = defaultdict(float)
    opps: dict[str, list[dict]] = defaultdict(list)
    spend = campaign_spend
    for kind, r in rows:
        account = r.get("account_id")
        if account not in members:
            continue
        if kind == "engagement":
            d = _day(r["occurred_at"])
            w = weights[r["action"]]
            if w > 0:
                last_engaged[account] = max(last_engaged.get(account, d), d)
                if "contact_id" in r:
                    pair = (account, r["contact_id"])
                    contact_last[pair] = max(contact_last.get(pair, d), d)
            if d >= window:
                sums["points"] += w
                sums[r["action"]] += 1
                sums["time"] += r.get("duration_s", 0)
                sums["conversions"] += _converts(r, rules)
        elif kind == "deals":
            opps[r["opportunity_id"]].append(r)
        elif kind == "spend":
            spend += r["amount"]
    facts = [_opportunity_facts(e, rules.stages) for e in opps.values()]
    won = [f for f in facts if f["stage"] == "closed_won"]
    lost = [f for f in facts if f["stage"] == "closed_lost"]
    won_value, lost_value = sum(f["amount"] for f in won), sum(f["amount"] for f in lost)
    cycles = [(f["closed_at"] - f["first"]) / DAY for f in won]
    renewals_won = sum(1 for f in won if f["type"] == "renewal")
    renewals_lost = sum(1 for f in lost if f["type"] == "renewal")
    customers = {f["account"] for f in won}
    with_opp = {f["account"] for f in facts}
    among, denominator = conversion
    funnel_stages = [s for s in rules.stages if s != "closed_lost"]
    funnel = {s: sum(1 for f in facts if f["furthest"] >= i) for i, s in enumerate(funnel_stages)}
    engaged_30 = sum(1 for d in last_engaged.values() if d >= window)
    by_persona = {
        p: len(
            {a for (a, c), d in contact_last.items() if d >= window and personas.get((a, c)) == p}
        )
        for p in ("decision_maker", "champion", "influencer", "user")
    }
    social = sum(sums[a] for a in ("social_like", "social_share", "social_comment"))
    return {
        "accounts": len(members),
        "engaged_accounts_7d": sum(1 for d in last_engaged.values() if d >= today - 6),
        "engaged_accounts_30d": engaged_30,
        "engaged_contacts_per_account_30d": _ratio(
            sum(1 for d in contact_last.values() if d >= window), engaged_30
        ),
        "accounts_engaged_by_persona_30d": by_persona,
        "decision_maker_coverage_30d": _ratio(by_persona["decision_maker"], engaged_30),
        "personas_per_engaged_account_30d": _ratio(sum(by_persona.values()), engaged_30),
        "engagement_points_30d": sums["points"],
        "time_on_site_s_30d": sums["time"],
        "email_open_rate_30d": _ratio(sums["email_open"], sums["email_delivered"]),
        "email_click_rate_30d": _ratio(sums["email_click"], sums["email_delivered"]),
        "ad_click_through_rate_30d": _ratio(sums["ad_click"], sums["ad_impression"]),
        "ad_conversions_30d": int(sums["conversions"]),
        "ad_conversion_rate_per_impression_30d": _ratio(sums["conversions"], sums["ad_impression"]),
        "ad_conversion_rate_per_click_30d": _ratio(sums["conversions"], sums["ad_click"]),
        **_people_kpis(_engaged_people(rows, rules), members, today),
        "social_engagement_30d": int(social),
        "opportunities_created": len(facts),
        "accounts_with_opportunity": len(with_opp & among),
        "account_to_opportunity_rate": _ratio(len(with_opp & denominator), len(denominator)),
        "stage_funnel": funnel,
        "stage_conversion": {
            f"{a}->{b}": _ratio(funnel[b], funnel[a]) for a, b in itertools.pairwise(funnel_stages)
        },
        "open_pipeline_value": sum(f["amount"] for f in facts if f["closed_at"] is None),
        "won": len(won),
        "lost": len(lost),
        "win_rate": _ratio(len(won), len(won) + len(lost)),
        "win_rate_by_value": _ratio(won_value, won_value + lost_value),
        "won_revenue": won_value,
        "sales_cycle_days_mean": statistics.mean(cycles) if cycles else None,
        "sales_cycle_days_median": statistics.median(cycles) if cycles else None,
        "expansion_revenue": sum(f["amount"] for f in won if f["type"] == "expansion"),
        "renewal_rate": _ratio(renewals_won, renewals_won + renewals_lost),
        "customers": len(customers),
        "clv": _ratio(won_value, len(customers)),
        "spend": spend,
        "roi": _ratio(won_value - spend, spend),
        "average_deal_size": _ratio(won_value, len(won)),
        "open_opportunities": sum(1 for f in facts if f["closed_at"] is None),
        "sales_velocity_per_day": (
            sum(1 for f in facts if f["closed_at"] is None)
            * (len(won) / (len(won) + len(lost)))
            * (won_value / len(won))
            / statistics.mean(cycles)
            if won and statistics.mean(cycles)
            else None
        ),
        **_retention(facts, today, rules),
        "journey": _journey_kpis(members, journeys, rules),
    }


NO_OWNER = "(no owner)"
Z_95 = statistics.NormalDist().inv_cdf(0.975)


@dataclass
class _Watch:
    """One alert and what followed it: response [ms, rep, by the owner], opportunity
    [id, created ms, amount, won, ms of the stage event that said so]."""

    alert: dict
    raised_at: int
    horizon: int
    owner: str | None
    response: list | None = None
    opportunity: list | None = None
    closed: bool = False


def _ms(text: str) -> int:
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(milliseconds=1)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _watch(sent: list[tuple[str, dict]], alerts: list[dict], rules: Rules) -> tuple:
    """Every alert's watch at the end, and the outcomes published on the way.

    Each account's rows are walked in the order they were sent, the first copy of each
    event only, with the account's clock (its newest event time): what follows an alert
    counts while that clock is before the horizon, so a late event does not once the
    clock passed it. A reissue names its episode's owner where the profile that first
    gave the account an owner arrived (the clock then is its detected_at)."""
    span = rules.outcomes.opportunity_days * DAY
    watches: dict[str, list[_Watch]] = defaultdict(list)
    reissues: dict[str, list[dict]] = defaultdict(list)
    for a in alerts:
        if a["reissue_of"] is None:
            at = _ms(a["detected_at"])
            watches[a["account_id"]].append(_Watch(a, at, at + span, a["owner"]))
        else:
            reissues[a["account_id"]].append(a)
    by_id = {w.alert["alert_id"]: w for held in watches.values() for w in held}
    clock: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    owned: set[str] = set()
    seen: set[tuple[str, str]] = set()
    opportunities: dict[str, dict[str, int]] = defaultdict(dict)
    published = []
    for kind, r in sent:
        account: str = r.get("account_id", "")
        if kind == "accounts":
            names[account] = r["name"]
            if not r.get("owner"):
                owned.discard(account)
                continue
            if account not in owned:
                for a in [a for a in reissues[account] if _ms(a["detected_at"]) == clock[account]]:
                    by_id[a["reissue_of"]].owner = a["owner"]
                    reissues[account].remove(a)
            owned.add(account)
            continue
        if kind == "contacts" or not account or (kind, r["event_id"]) in seen:
            continue
        seen.add((kind, r["event_id"]))
        at = r["occurred_at"]
        following = [w for w in watches[account] if not w.closed and w.raised_at < at < w.horizon]
        if kind == "sales_activities":
            for w in following:
                if w.response is None or at < w.response[0]:
                    by_owner = None if w.owner is None else r["rep_id"] == w.owner
                    w.response = [at, r["rep_id"], by_owner]
        elif kind == "deals":
            # An opportunity is created at its earliest event so far: a late earlier
            # event shows it existed before an alert it was credited to.
            opportunity = r["opportunity_id"]
            created = opportunities[account][opportunity] = min(
                opportunities[account].get(opportunity, at), at
            )
            won = {"closed_won": True, "closed_lost": False}.get(r["stage"])
            for w in [w for w in watches[account] if not w.closed]:
                held = w.opportunity
                if held and held[0] == opportunity:
                    if created <= w.raised_at:
                        w.opportunity = None
                    elif w in following and at >= held[4]:
                        held[1:] = [created, r["amount"], won, at]
                    else:
                        held[1] = created
                elif (
                    w.raised_at < created < w.horizon
                    and at < w.horizon
                    and (held is None or (created, opportunity) < (held[1], held[0]))
                ):
                    w.opportunity = [opportunity, created, r["amount"], won, at]
        clock[account] = max(clock[account], at)
        for w in watches[account]:
            if not w.closed and w.horizon <= clock[account]:
                w.closed = True
                published.append(_outcome(w, names[account], rules))
    assert not any(reissues.values()), f"reissues at no profile that gave an owner: {reissues}"
    return [w for held in watches.values() for w in held], published


def _outcome(w: _Watch, name: str, rules: Rules) -> dict:
    a, response, opportunity = w.alert, w.response, w.opportunity
    waited = None if response is None else response[0] - w.raised_at
    return {
        "alert_id": a["alert_id"],
        "account_id": a["account_id"],
        "account_name": name,
        "owner": w.owner,
        "kind": a["kind"],
        "cluster": a["cluster"],
        "tier": a["tier"],
        "raised_at": _iso(w.raised_at),
        "holdout": a["holdout"],
        "first_response_at": None if response is None else _iso(response[0]),
        "response_minutes": None if waited is None else waited / 60_000,
        "responded_by": None if response is None else response[1],
        "responded_by_owner": None if response is None else response[2],
        "sla_met": waited is not None and waited <= rules.outcomes.response_sla_minutes * 60_000,
        "opportunity_id": None if opportunity is None else opportunity[0],
        "opportunity_created_at": None if opportunity is None else _iso(opportunity[1]),
        "opportunity_amount": None if opportunity is None else opportunity[2],
        "opportunity_won": None if opportunity is None else opportunity[3],
        "horizon_at": _iso(w.horizon),
    }


def alert_outcomes(sent: list[tuple[str, dict]], alerts: list[dict], rules: Rules) -> list[dict]:
    """The outcome of every alert (of `alerts`, the pipeline's) whose horizon passed."""
    return _watch(sent, alerts, rules)[1]


def _nearest_rank(values: list[int], share: float) -> int | None:
    return sorted(values)[math.ceil(share * len(values)) - 1] if values else None


def _lift(with_delivered: int, delivered: int, with_held: int, held: int) -> dict:
    """Katz's log interval of the risk ratio, given at least ten alerts and an opportunity
    in each group."""
    figures: dict[str, Any] = {"lift": None, "lift_ci_95": None}
    if held == 0:
        note = "no holdout: no alert here was held out ([rules.outcomes] holdout)"
    elif delivered < 10 or held < 10:
        note = (
            f"not enough data: {delivered} delivered and {held} held-out alerts "
            "(at least 10 of each)"
        )
    elif with_delivered == 0 or with_held == 0:
        note = (
            f"not enough data: {with_delivered} and {with_held} opportunities after "
            "delivered and held-out alerts (at least one in each)"
        )
    else:
        note = "measured"
        ratio = (with_delivered / delivered) / (with_held / held)
        log_se = math.sqrt(1 / with_delivered - 1 / delivered + 1 / with_held - 1 / held)
        figures = {
            "lift": ratio,
            "lift_ci_95": [ratio / math.exp(Z_95 * log_se), ratio * math.exp(Z_95 * log_se)],
        }
    return figures | {
        "lift_method": "risk ratio, 95% interval by Katz's log method",
        "lift_note": note,
    }


def _alert_kpis(watches: list[_Watch], rules: Rules) -> dict[str, Any]:
    """What followed the alerts: responses of the delivered ones (a held-out alert told
    no seller), opportunities of each group."""
    sla = rules.outcomes.response_sla_minutes * 60_000
    delivered = [w for w in watches if not w.alert["holdout"]]
    held = [w for w in watches if w.alert["holdout"]]
    waits = [w.response[0] - w.raised_at for w in delivered if w.response]
    seconds = [ms // 1000 for ms in waits]
    after_d = [w.opportunity for w in delivered if w.opportunity]
    after_h = [w.opportunity for w in held if w.opportunity]
    p50, p90 = _nearest_rank(seconds, 0.5), _nearest_rank(seconds, 0.9)
    return {
        "raised": len(watches),
        "delivered": len(delivered),
        "held_out": len(held),
        "responded": len(waits),
        "responded_within_sla": sum(1 for ms in waits if ms <= sla),
        "response_rate": _ratio(len(waits), len(delivered)),
        "sla_rate": _ratio(sum(1 for ms in waits if ms <= sla), len(delivered)),
        "response_minutes_p50": None if p50 is None else p50 / 60,
        "response_minutes_p90": None if p90 is None else p90 / 60,
        "responded_held_out": sum(1 for w in held if w.response),
        "opportunities_delivered": len(after_d),
        "opportunities_held_out": len(after_h),
        "opportunity_rate_delivered": _ratio(len(after_d), len(delivered)),
        "opportunity_rate_held_out": _ratio(len(after_h), len(held)),
        **_lift(len(after_d), len(delivered), len(after_h), len(held)),
        "pipeline_per_alert": _ratio(sum(o[2] for o in after_d), len(delivered)),
        "pipeline_per_alert_held_out": _ratio(sum(o[2] for o in after_h), len(held)),
        "won_delivered": sum(1 for o in after_d if o[3] is True),
        "won_held_out": sum(1 for o in after_h if o[3] is True),
    }


def ground_truth(
    sent: list[tuple[str, dict]],
    tiers: dict[str, int],
    rules: Rules,
    journeys: dict[str, Journey],
    alerts: list[dict],
) -> dict:
    """Every KPI of the report, from the distinct rows; `tiers` maps account -> final tier,
    `journeys` account -> (stage, reached steps), and `alerts` are the surge alerts raised
    (their JSON), reissues included."""
    rows = _distinct(sent)
    personas = _personas(sent)
    as_of = max(r["occurred_at"] for k, r in rows if k != "accounts")
    today = _day(as_of)
    campaign = sum(r["amount"] for k, r in rows if k == "spend" and "account_id" not in r)
    tiered = {a for a, t in tiers.items() if t > 0}
    scopes_of = {"overall": set(tiers), "targets": tiered} | {
        str(t): {a for a, x in tiers.items() if x == t} for t in (0, 1, 2, 3)
    }
    scopes: dict[str, dict[str, Any]] = {}
    for t in (0, 1, 2, 3):
        members = {a for a, x in tiers.items() if x == t}
        scopes[str(t)] = _scope_kpis(
            rows, members, today, rules, (members, members if t > 0 else set()), personas, journeys
        )
    watches = _watch(sent, alerts, rules)[0]
    by_owner: dict[str, list[_Watch]] = defaultdict(list)
    for w in watches:
        by_owner[w.owner or NO_OWNER].append(w)
    truth: dict[str, Any] = {
        "as_of": _iso(as_of),
        "overall": _scope_kpis(
            rows, set(tiers), today, rules, (tiered, tiered), personas, journeys, campaign
        ),
        "targets": _scope_kpis(rows, tiered, today, rules, (tiered, tiered), personas, journeys),
        "tiers": scopes,
        "daily": _daily(rows, today, rules, journeys, scopes_of),
        "campaigns": _campaigns(rows, rules),
        "owners": {owner: _alert_kpis(by_owner[owner], rules) for owner in sorted(by_owner)},
    }
    # Alerts count under the tier they were raised in, not the account's tier now.
    truth["overall"]["alerts"] = _alert_kpis(watches, rules)
    truth["targets"]["alerts"] = _alert_kpis([w for w in watches if w.alert["tier"] > 0], rules)
    for tier, scope in scopes.items():
        scope["alerts"] = _alert_kpis([w for w in watches if str(w.alert["tier"]) == tier], rules)
    return truth


def _daily(
    rows: list[tuple[str, dict]],
    today: int,
    rules: Rules,
    journeys: dict[str, Journey],
    scopes: dict[str, set[str]],
) -> dict[str, dict]:
    days: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    steps = [r.stage for r in reversed(rules.journey)]
    for _, reached in journeys.values():
        for stage, at in reached.items():
            days[_day(at)][f"entered:{stage}"] += 1
    engaged: dict[int, set[str]] = defaultdict(set)
    opps: dict[str, list[dict]] = defaultdict(list)
    for kind, r in rows:
        if kind == "engagement":
            d = _day(r["occurred_at"])
            if d <= today - 30:
                continue
            w = rules.weights[r["action"]]
            row = days[d]
            row["engagement_points"] += w
            if w > 0:
                engaged[d].add(r["account_id"])
            for action, name in [
                ("email_delivered", "emails_delivered"),
                ("email_open", "email_opens"),
                ("email_click", "email_clicks"),
                ("ad_impression", "ad_impressions"),
                ("ad_click", "ad_clicks"),
            ]:
                if r["action"] == action:
                    row[name] += 1
            if r["action"] in ("social_like", "social_share", "social_comment"):
                row["social_engagement"] += 1
            row["ad_conversions"] += _converts(r, rules)
            row["time_on_site_s"] += r.get("duration_s", 0)
        elif kind == "deals":
            opps[r["opportunity_id"]].append(r)
        elif kind == "spend":
            days[_day(r["occurred_at"])]["spend"] += r["amount"]
    for events in opps.values():
        f = _opportunity_facts(events, rules.stages)
        days[_day(f["first"])]["opportunities_created"] += 1
        if f["stage"] == "closed_won":
            days[_day(f["closed_at"])]["won"] += 1
            days[_day(f["closed_at"])]["won_revenue"] += f["amount"]
        elif f["stage"] == "closed_lost":
            days[_day(f["closed_at"])]["lost"] += 1
    for d, accounts in engaged.items():
        days[d]["engaged_accounts"] = len(accounts)
    out = {}
    people = _engaged_people(rows, rules)
    for d in sorted(days):
        row = days[d]
        if not any(row.values()):
            continue
        won, lost = row.get("won", 0), row.get("lost", 0)
        counted = {
            name: _people_in(people, members, d) if d >= today - 23 else None
            for name, members in scopes.items()
        }
        out[datetime.fromtimestamp(d * DAY / 1000, UTC).date().isoformat()] = {
            "engaged_accounts": int(row.get("engaged_accounts", 0)),
            "engagement_points": row.get("engagement_points", 0.0),
            "emails_delivered": int(row.get("emails_delivered", 0)),
            "email_opens": int(row.get("email_opens", 0)),
            "email_clicks": int(row.get("email_clicks", 0)),
            "ad_impressions": int(row.get("ad_impressions", 0)),
            "ad_clicks": int(row.get("ad_clicks", 0)),
            "ad_conversions": int(row.get("ad_conversions", 0)),
            "social_engagement": int(row.get("social_engagement", 0)),
            "time_on_site_s": row.get("time_on_site_s", 0.0),
            "opportunities_created": int(row.get("opportunities_created", 0)),
            "won": int(won),
            "won_revenue": row.get("won_revenue", 0.0),
            "lost": int(lost),
            "win_rate": _ratio(won, won + lost),
            "spend": row.get("spend", 0.0),
            "stage_entries": {s: int(row.get(f"entered:{s}", 0)) for s in steps},
            "engaged_contacts_7d": counted,
            "engaged_contacts_per_account_7d": {
                name: None if n is None else _ratio(n, len(scopes[name]))
                for name, n in counted.items()
            },
        }
    return out


def write_jsonl(directory: Path, rows: list[tuple[str, dict]]) -> Path:
    """(kind, payload) rows as the `{kind}.jsonl` files `--input-dir` reads, in order."""
    by_kind: dict[str, list[bytes]] = {}
    for kind, payload in rows:
        by_kind.setdefault(kind, []).append(orjson.dumps(payload))
    for kind, lines in by_kind.items():
        (directory / f"{kind}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return directory
