"""A synthetic history with one rule planted in it, as the JSON-lines files that `abm
replay --input-dir` reads: for testing that a search over rule sets (`abm tune`) finds a
rule that is there, and none where there is none.

The rule: accounts of one country above a revenue bar, whose decision maker (a persona)
engaged in the engagement window, open opportunities at `factor` times the base rate.
Everything else is noise independent of the outcomes: the other personas' engagement,
intent, the other firmographics, whether a deal is won. Every profile meets the default
ICP but for country and revenue, so the country and the revenue bar split the accounts,
and the persona's engagement comes in episodes (spells of days), so the rule holds for
an account in spells and not at all for others.

The persona is the engine's reading of a title: titles come from the demo world's table
(synth.TITLES), sorted into personas by the default persona rules, and "engaged in the
window" counts as the engine counts it: an event worth points, by that contact, in the
`engagement_window_days` ending on the day, before the opportunity. Deterministic for a
seed; the accounts, rosters, engagement and intent are drawn apart from the deals, so a
history without the rule (`planted=None`) differs from one with it only in its deals.
"""

import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from schemas.common import to_ms
from streams.dev.synth import OWNERS, TITLES, TOPICS
from streams.logic.rules import Icp, Rules
from streams.logic.signals.committee import classify

__all__ = ["History", "Planted", "write_history"]

DAY = 86_400_000
WINDOW_DAYS = Rules().engagement_window_days
"""The default engagement window: tier rules' personas read engagement in it."""
COUNTRIES = ("US", "GB", "BR", "JP", "FR")
"""The planted country and the first four others of these: some in the default ICP,
some not (BR, JP)."""
REVENUE = (1_000_000, 500_000_000)
"""Annual revenue is log-uniform in this range: a bar anywhere in it splits accounts."""
ACTIONS = (
    ("page_view", "web", 6, 60),
    ("email_open", "email", 3, 0),
    ("email_click", "email", 1, 0),
)
"""(action, channel, share, typical seconds on site): only actions worth points, as only
those count a contact as engaged."""
EPISODE_DAYS = 8
"""Mean length of a spell in which the planted persona engages..."""
PAUSE_DAYS = 40
"""...and of the spell between two of them."""
EPISODE_DAILY = 0.5
"""Chance the planted persona engages on a day of an episode."""
NOISE_DAILY = 0.03
"""Chance another contact engages on a day: noise, the same for every account."""
INTENT_DAILY = 0.01
"""Chance an account's intent provider reports a topic on a day (a random score)."""
OWNED = 0.6
"""Share of accounts whose profile names an owner."""
STAGES = ("prospecting", "qualification", "proposal", "negotiation")
"""The default open stages: an opportunity is created at the first."""


def _personas() -> dict[str, list[tuple[str, str]]]:
    """The demo world's (title, seniority) pairs by the persona the default rules give
    them: an engagement by a contact then counts as the persona this module means."""
    rules = Rules()
    titles: dict[str, list[tuple[str, str]]] = {}
    for title, seniority, _ in TITLES:
        titles.setdefault(classify(title, None, seniority, rules), []).append((title, seniority))
    return titles


TITLES_OF = _personas()
ICP = Icp()
"""The default ICP, which every profile meets but for country and revenue."""


@dataclass(frozen=True)
class Planted:
    """The rule: accounts of `country` with an annual revenue of at least `min_revenue`,
    on days a contact of `persona` engaged in the engagement window, open opportunities at
    `factor` times the base rate."""

    country: str = "DE"
    min_revenue: float = 50_000_000
    persona: str = "decision_maker"
    """A persona of the default persona rules (streams.logic.rules.DEFAULT_PERSONAS)."""
    factor: float = 5.0

    def __post_init__(self) -> None:
        if self.persona not in TITLES_OF:
            raise ValueError(f"persona {self.persona!r} is none of {sorted(TITLES_OF)}")
        if self.factor <= 0:
            raise ValueError(f"factor must be positive, not {self.factor}")


@dataclass(frozen=True)
class History:
    """What was written, for tests to check against. With `planted=None` the planted
    figures are those of `Planted()`'s segment, where no rule acts: a null history is
    compared on the same account-days."""

    accounts: int
    days: int
    start_ms: int
    opportunities: int
    planted_opportunities: int
    """Opportunities created on days the planted rule held."""
    planted_days: int
    """Account-days on which the planted rule held (by the end of the day)."""
    records: Mapping[str, int]
    """Lines written per input kind."""


@dataclass
class _Files:
    """Payloads per input kind with their event times."""

    rows: dict[str, list[tuple[int, dict[str, Any]]]]

    def add(self, kind: str, at: int, payload: dict[str, Any]) -> None:
        """An event at `at` (epoch ms), given an id unique across kinds; numbered per kind,
        so the deals take no numbers from the other kinds' events."""
        rows = self.rows[kind]
        payload["event_id"] = f"{kind[0]}-{len(rows) + 1}"
        payload["occurred_at"] = at
        rows.append((at, payload))

    def write(self, directory: Path, start_ms: int) -> dict[str, int]:
        """Each kind's file, its lines in event-time order: a replay merges the files by
        their heads, so a file out of order would apply an account's events out of
        order (or refuse them as late). Each file is dated `start_ms`: a replay gives a
        file's records its modification time as their record time, a profile's only
        time, so the profiles are applied when the history begins (not on the day it was
        written, after it) and a replay decides the same whenever the files were made."""
        directory.mkdir(parents=True, exist_ok=True)
        for kind, rows in self.rows.items():
            rows.sort(key=lambda row: row[0])
            path = directory / f"{kind}.jsonl"
            path.write_bytes(b"".join(orjson.dumps(payload) + b"\n" for _, payload in rows))
            os.utime(path, ns=(start_ms * 1_000_000, start_ms * 1_000_000))
        return {kind: len(rows) for kind, rows in self.rows.items()}


def write_history(
    directory: Path,
    *,
    accounts: int = 1000,
    days: int = 365,
    seed: int = 0,
    planted: Planted | None = Planted(),
    base_rate: float = 0.0008,
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
) -> History:
    """Write `accounts.jsonl`, `contacts.jsonl`, `engagement.jsonl`, `intent.jsonl` and
    `deals.jsonl` to `directory` (created if need be; other files there are left alone,
    and replayed with these) for `days` days from `start`: each account-day opens an
    opportunity with chance `base_rate`, times `planted.factor` where the planted rule
    holds; `planted=None`, nowhere."""
    shape = planted or Planted()
    lift = planted.factor if planted else 1.0
    if not 0 <= base_rate * max(lift, 1.0) <= 1:
        raise ValueError(f"base_rate {base_rate} times the factor is no probability")
    start_ms = to_ms(start)
    world, deals = random.Random(seed), random.Random(seed * 7_919 + 1)
    countries = (shape.country, *(c for c in COUNTRIES if c != shape.country))[:5]
    end = start_ms + days * DAY
    files = _Files({"accounts": [], "contacts": [], "engagement": [], "intent": [], "deals": []})
    opportunities = planted_opportunities = planted_days = 0
    for n in range(accounts):
        account_id = f"acct-{n:05d}"
        profile = _profile(world, n, account_id, countries)
        files.rows["accounts"].append((start_ms, profile))
        persona_contact, others = _roster(world, account_id, shape.persona, start_ms, files)
        engaged = _engagement(world, account_id, persona_contact, others, days, start_ms, files)
        in_segment = (
            profile["country"] == shape.country and profile["annual_revenue"] >= shape.min_revenue
        )
        last: int | None = None  # the last day before today the planted persona engaged
        for day in range(days):
            today = engaged.get(day)
            before = last is not None and day - last < WINDOW_DAYS
            held = in_segment and (before or today is not None)
            if today is not None:
                last = day
            planted_days += held
            if deals.random() >= base_rate * (lift if held else 1.0):
                continue
            # Engaged only today: the opportunity comes after the engagement, as the
            # engine sees the rule hold only from then on.
            earliest = today + 1 if held and not before and today is not None else 0
            opportunities += 1
            planted_opportunities += held
            at = start_ms + day * DAY + deals.randrange(earliest, DAY)
            _deal(deals, f"{account_id}-o{opportunities}", profile, at, end, files)
    return History(
        accounts=accounts,
        days=days,
        start_ms=start_ms,
        opportunities=opportunities,
        planted_opportunities=planted_opportunities,
        planted_days=planted_days,
        records=files.write(directory, start_ms),
    )


def _profile(
    rng: random.Random, n: int, account_id: str, countries: tuple[str, ...]
) -> dict[str, Any]:
    """A profile meeting every default ICP criterion but country and revenue (no
    fit_score: the rules compute fit), some with an owner."""
    low, high = (math.log(r) for r in REVENUE)
    profile: dict[str, Any] = {
        "account_id": account_id,
        "name": f"Planted Account {n}",
        "domain": f"planted{n}.example.com",
        "industry": rng.choice(ICP.industries),
        "employees": rng.randint(ICP.min_employees, 20 * ICP.min_employees),
        "annual_revenue": round(math.exp(rng.uniform(low, high)), -3),
        "country": rng.choice(countries),
        "expected_acv": round(rng.lognormvariate(10.8, 0.8), -2),
    }
    if rng.random() < OWNED:
        profile["owner"] = rng.choice(OWNERS)
    return profile


def _roster(
    rng: random.Random, account_id: str, persona: str, at: int, files: _Files
) -> tuple[str, list[str]]:
    """The account's roster: one contact of `persona` (the planted one: its engagement
    alone decides whether the rule holds) and one or two of each other persona. Returns
    the planted contact and the others."""
    wanted = [persona] + [p for p in TITLES_OF if p != persona for _ in range(rng.randint(1, 2))]
    contacts = []
    for k, who in enumerate(wanted):
        title, seniority = rng.choice(TITLES_OF[who])
        contacts.append(
            {"contact_id": f"{account_id}-c{k}", "title": title, "seniority": seniority}
        )
    files.rows["contacts"].append(
        (at, {"account_id": account_id, "contacts": contacts, "updated_at": at})
    )
    ids = [c["contact_id"] for c in contacts]
    return ids[0], ids[1:]


def _engagement(
    rng: random.Random,
    account_id: str,
    persona_contact: str,
    others: list[str],
    days: int,
    start_ms: int,
    files: _Files,
) -> dict[int, int]:
    """The account's engagement and intent, day by day: the planted persona in episodes,
    the other contacts and the intent provider at random. Returns the days the planted
    persona engaged, each with the time of day (ms) it did."""
    engaged: dict[int, int] = {}
    episode = rng.random() < EPISODE_DAYS / (EPISODE_DAYS + PAUSE_DAYS)
    for day in range(days):
        day_start = start_ms + day * DAY
        episode = rng.random() >= 1 / EPISODE_DAYS if episode else rng.random() < 1 / PAUSE_DAYS
        if episode and rng.random() < EPISODE_DAILY:
            # Never the day's last ms: an opportunity after it still falls on the day.
            engaged[day] = rng.randrange(DAY - 1)
            _touch(rng, account_id, persona_contact, day_start + engaged[day], files)
        for contact in others:
            if rng.random() < NOISE_DAILY:
                _touch(rng, account_id, contact, day_start + rng.randrange(DAY), files)
        if rng.random() < INTENT_DAILY:
            intent = {
                "account_id": account_id,
                "provider": "bombora",
                "topic": rng.choice(TOPICS),
                "score": rng.randint(20, 95),
            }
            files.add("intent", day_start + rng.randrange(DAY), intent)
    return engaged


def _touch(rng: random.Random, account_id: str, contact: str, at: int, files: _Files) -> None:
    """One engagement event worth points: a page view, an email opened or clicked."""
    ((action, channel, _, seconds),) = rng.choices(ACTIONS, [a[2] for a in ACTIONS])
    payload: dict[str, Any] = {
        "account_id": account_id,
        "contact_id": contact,
        "channel": channel,
        "action": action,
    }
    if seconds:
        payload["duration_s"] = rng.randint(seconds // 2, seconds * 2)
    files.add("engagement", at, payload)


def _deal(
    rng: random.Random,
    opportunity: str,
    profile: dict[str, Any],
    at: int,
    end: int,
    files: _Files,
) -> None:
    """An opportunity of the account of `profile` created at `at` in the first stage,
    worth about its expected ACV, advancing a stage every week or few, most then closing
    won or lost (a coin weighted the same for every account); its events from `end` on
    are not written (it is still open then)."""
    account_id = profile["account_id"]
    amount = round(profile["expected_acv"] * rng.uniform(0.6, 1.4), -2)
    stages = list(STAGES[: rng.randint(1, len(STAGES))])
    if rng.random() < 0.8:
        stages.append("closed_won" if rng.random() < 0.35 else "closed_lost")
    for stage in stages:
        if at >= end:
            return
        deal: dict[str, Any] = {
            "account_id": account_id,
            "opportunity_id": opportunity,
            "stage": stage,
            "amount": amount,
        }
        files.add("deals", at, deal)
        at += rng.randint(5, 20) * DAY
