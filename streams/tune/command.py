"""`abm tune`: rules learned from the history's own outcomes, judged on a period the
search never saw, and replayed for real.

One pass records what every account measured, day by day (table.py); the days are split
into a training period and a held-out one (by default its last quarter); an ICP is
learned from the training period's outcomes (icp.py) and the search scores candidate
rules on the training days alone (search.py). Then the current and the tuned rules are
replayed through the real engine, and the figures of each period are read from the
tiers that replay decided: they must equal the table's, or the report says so.
"""

import asyncio
import math
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from schemas.common import from_ms, to_ms
from streams.config import Settings
from streams.logic.rules import Rules
from streams.logic.state.windows import DAY_MS, day_of
from streams.replay import shards
from streams.replay.engine import Outcome
from streams.replay.run import Window
from streams.replay.shards import Job
from streams.tune.icp import ICP_KEYS, Choices, Firmographics, choices
from streams.tune.interval import Lift, Sums, difference, lift
from streams.tune.objective import Objective
from streams.tune.recording import record
from streams.tune.replayed import Disagreement, replayed_tiers
from streams.tune.score import Figures, Labelled, cut, figures_of, label, sums_of, tiers_of
from streams.tune.search import Constraints, Found, search
from streams.tune.segments import starts
from streams.tune.table import Run, Table
from streams.tune.verdict import outcome_counts, too_few, verdict

__all__ = ["NotTunable", "Options", "Periods", "Prepared", "prepare", "tune"]

HELD_OUT = 0.25
"""The share of the history's days held out when no split is given."""


class NotTunable(ValueError):
    """The history cannot be tuned on as asked (too few outcomes, a split outside it)."""


@dataclass(frozen=True)
class Options:
    objective: Objective = "opportunity"
    horizon_days: int = 90
    train_until: int | None = None
    """Epoch ms the training period ends at (None: the last quarter is held out)."""
    constraints: Constraints = field(default_factory=Constraints)
    max_alerts_per_owner_week: int | None = None
    candidates: int = 1000
    seed: int = 0


def _alerts(alerts: Sequence[Mapping[str, Any]], period: tuple[int, int]) -> dict[str, Any]:
    """The alerts sales were sent in the period (held-out ones were not), per owner and
    week (weeks counted from the period's first day)."""
    weeks = max(1, math.ceil((period[1] - period[0]) / 7))
    per: Counter[tuple[str | None, int]] = Counter()
    for alert in alerts:
        day = day_of(to_ms(datetime.fromisoformat(alert["detected_at"])))
        if not alert.get("holdout") and period[0] <= day < period[1]:
            per[alert.get("owner"), (day - period[0]) // 7] += 1
    owners = {owner for owner, _ in per}
    return {
        "sent": sum(per.values()),
        "owners": len(owners),
        "per_owner_week": round(sum(per.values()) / (len(owners) * weeks), 3) if owners else 0.0,
        "max_per_owner_week": max(per.values(), default=0),
    }


def _date(day: int) -> str:
    return from_ms(day * DAY_MS).date().isoformat()


def _lift(value: Lift) -> dict[str, float | None]:
    return {"value": value.value, "low": value.low, "high": value.high}


def _figures(
    f: Figures, lifted: Lift, alerts: dict[str, Any], period: tuple[int, int], options: Options
) -> dict[str, Any]:
    c = options.constraints
    met = {
        "max_tier1": c.max_tier1 is None or f.peak_accounts[1] <= c.max_tier1,
        "max_tier2": c.max_tier2 is None or f.peak_accounts[2] <= c.max_tier2,
        "max_alerts_per_owner_week": options.max_alerts_per_owner_week is None
        or alerts["max_per_owner_week"] <= options.max_alerts_per_owner_week,
    }
    return {
        "accounts_per_tier_peak": {f"tier_{t}": f.peak_accounts[t] for t in (1, 2, 3)}
        | {"untiered": f.peak_accounts[0]},
        "accounts_per_tier_mean": {
            f"tier_{t}": round(f.tier_days[t] / (period[1] - period[0]), 1) for t in (1, 2, 3)
        }
        | {"untiered": round(f.tier_days[0] / (period[1] - period[0]), 1)},
        "opportunity_rate_tier1": f.opportunity_rate_tier1,
        "opportunity_rate_rest": f.opportunity_rate_rest,
        "lift": _lift(lifted),
        "alerts": alerts,
        "constraints_met": met | {"all": all(met.values())},
    }


@dataclass(frozen=True)
class Periods:
    first: int
    split: int
    end: int

    @property
    def train(self) -> tuple[int, int]:
        return (self.first, self.split)

    @property
    def test(self) -> tuple[int, int]:
        return (self.split, self.end)


def _periods(table: Table, train_until: int | None) -> Periods:
    if not table.runs:
        raise NotTunable("the history has no account-days to tune on")
    first = min(run.first_day for run in table.runs)
    end = max(run.first_day + run.days for run in table.runs)
    split = first + math.ceil((end - first) * (1 - HELD_OUT))
    if train_until is not None:
        split = day_of(train_until - 1) + 1
    if not first < split < end:
        raise NotTunable(
            f"--train-until {from_ms(split * DAY_MS).date()} leaves no days on one side: "
            f"the history runs from {from_ms(first * DAY_MS).date()} to "
            f"{from_ms(end * DAY_MS).date()}"
        )
    return Periods(first, split, end)


def _said(f: Figures, days: int) -> str:
    """A candidate's training lift and tier-1 size: what a change is kept for."""
    rate1, rate0 = f.opportunity_rate_tier1, f.opportunity_rate_rest
    lifted = "-" if rate1 is None or not rate0 else f"{rate1 / rate0:.2f}"
    return f"lift {lifted} with {f.tier_days[1] / days:,.0f} accounts in tier 1 (mean)"


def _changes(found: Found, rules: Rules, icp: Choices, days: int) -> list[dict[str, Any]]:
    """Each changed key: its old and new value, and what it rests on: the training lift
    and tier-1 size with the change and without it (`days`: the training period's), and
    for the ICP what the accounts did."""
    old, new = rules.model_dump(mode="json"), found.rules.model_dump(mode="json")
    changed = [
        (key, old[key], new[key])
        for key in ("intent_min_score", "engagement_min_points", "engagement_min_contacts")
    ]
    changed += [(f"icp.{key}", old["icp"][key], new["icp"][key]) for key in ICP_KEYS]
    changed += [
        (f"tiers.{now['name']}.{key}", was[key], value)
        for was, now in zip(old["tiers"], new["tiers"], strict=True)
        for key, value in now.items()
    ]
    out = []
    for key, was, now in changed:
        if was == now:
            continue
        evidence = f"training: {_said(found.figures, days)}"
        if key in found.without:
            evidence += f"; without this change {_said(found.without[key], days)}"
        if key.startswith("icp."):
            said = icp.why[key[4:]].get(orjson.dumps(now).decode())
            evidence += f"; {said}" if said else ""
        out.append({"key": key, "was": was, "now": now, "evidence": evidence})
    return out


@dataclass(frozen=True, repr=False)
class Prepared:
    """The history recorded, split and labelled with the objective: what the search and
    the report read. No generated repr (see Table)."""

    table: Table
    periods: Periods
    created: dict[str, list[int]]
    """Each account's outcomes (creation times of its opportunities, or of its won ones)."""
    runs: list[Run]
    """The table's runs cut at the split."""
    labelled: Labelled

    def hit(self) -> npt.NDArray[np.bool_]:
        """Per account of the firmographics: an outcome in the training period."""
        first, split = self.periods.first * DAY_MS, self.periods.split * DAY_MS
        accounts = self.labelled.firmographics.accounts if self.labelled.firmographics else ()
        return np.array(
            [any(first <= at < split for at in self.created.get(a, ())) for a in accounts],
            dtype=np.bool_,
        )


async def _prepare(
    settings: Settings,
    rules: Rules,
    input_dir: Path | None,
    options: Options,
    wall_now: int,
    workers: int,
) -> Prepared:
    table = await record(settings, rules, input_dir, wall_now, workers, sys.stderr.isatty())
    periods = _periods(table, options.train_until)
    created = table.created(won_only=options.objective == "won")
    if why := too_few(created, periods.first, periods.split, periods.end):
        raise NotTunable(why if options.objective == "opportunity" else f"{why} (won)")
    runs = cut(table.runs, periods.split)
    firmographics = Firmographics.of(table.profiles)
    labelled = label(runs, created, rules, options.horizon_days, firmographics)
    return Prepared(table, periods, created, runs, labelled)


def prepare(
    settings: Settings, rules: Rules, input_dir: Path | None, options: Options, workers: int = 1
) -> Prepared:
    """The history as the search sees it (what tests hold a rule set's figures to)."""
    wall_now = int(time.time() * 1000)
    return asyncio.run(_prepare(settings, rules, input_dir, options, wall_now, workers))


def tune(
    settings: Settings, rules: Rules, input_dir: Path | None, options: Options, workers: int
) -> dict[str, Any]:
    """The tuned rules and the report (NotTunable when the history cannot say)."""

    async def run() -> dict[str, Any]:
        opts = options
        started, wall_now = time.monotonic(), int(time.time() * 1000)
        prepared = await _prepare(settings, rules, input_dir, opts, wall_now, workers)
        periods, labelled = prepared.periods, prepared.labelled
        assert labelled.firmographics is not None
        icp = choices(labelled.firmographics, prepared.hit(), rules.icp)
        constraints = opts.constraints
        if constraints.max_tier1 is None:  # tier 1 is what sales works 1:1, not everyone
            constraints = replace(constraints, max_tier1=max(1, len(labelled.accounts) // 10))
            opts = replace(opts, constraints=constraints)
        assert constraints.max_tier1 is not None
        begin = starts(
            labelled.firmographics, prepared.hit(), rules, icp, 2 * constraints.max_tier1
        )
        found = search(
            labelled,
            rules,
            periods.train,
            opts.candidates,
            constraints,
            icp,
            opts.seed,
            starts=begin,
        )
        searched = time.monotonic() - started
        if found is None:
            raise NotTunable("no candidate met the constraints on the training period")
        job = Job(settings, (rules, found.rules), input_dir, Window(), True, wall_now)
        outcomes, _ = await shards.run(job, workers, show=sys.stderr.isatty())
        sides = {"current": rules, "tuned": found.rules}
        counts = outcome_counts(prepared.created, periods.first, periods.split, periods.end)
        report: dict[str, Any] = {
            "objective": opts.objective,
            "horizon_days": opts.horizon_days,
            "periods": {
                "train": [_date(periods.first), _date(periods.split)],
                "test": [_date(periods.split), _date(periods.end)],
            },
            "outcomes": {"train": counts[0], "test": counts[1]},
            "accounts": len(labelled.accounts),
            "searched": found.tried,
            "constraints": {
                "max_tier1": constraints.max_tier1,
                "max_tier2": constraints.max_tier2,
                "max_alerts_per_owner_week": opts.max_alerts_per_owner_week,
            },
        }
        report |= _report(prepared, sides, outcomes, opts)
        report["changes"] = _changes(found, rules, icp, periods.split - periods.first)
        report["rules"] = found.rules.model_dump(mode="json")
        report["seconds"] = {
            "record_and_search": round(searched, 3),
            "total": round(time.monotonic() - started, 3),
        }
        return report

    return asyncio.run(run())


def _report(
    prepared: Prepared, sides: Mapping[str, Rules], outcomes: Sequence[Outcome], options: Options
) -> dict[str, Any]:
    """Each rule set on both periods, from the table; the verdict on the held-out gain;
    and whether the tiers the replay decided give the same figures."""
    labelled, periods = prepared.labelled, prepared.periods
    out: dict[str, Any] = {"train": {}, "test": {}, "replay_matches": {}}
    sums: dict[tuple[str, str], Sums] = {}
    for (name, rules), outcome in zip(sides.items(), outcomes, strict=True):
        tiers = tiers_of(labelled, rules)
        try:
            pieces, replayed = replayed_tiers(
                prepared.runs, outcome.changes, prepared.table.profiled
            )
        except Disagreement:  # no timeline to read: the figures cannot agree
            pieces, replayed = [], np.zeros(0, dtype=np.int64)
        again = label(pieces, prepared.created, rules, options.horizon_days)
        matches = []
        for period_name, period in (("train", periods.train), ("test", periods.test)):
            scored = figures_of(labelled, tiers, period)
            sums[period_name, name] = sums_of(labelled, tiers, period)
            lifted = lift(sums[period_name, name], options.seed)
            alerts = _alerts(outcome.alerts, period)
            out[period_name][name] = _figures(scored, lifted, alerts, period, options)
            matches.append(scored == figures_of(again, replayed, period))
        out["replay_matches"][name] = all(matches)
    gain = difference(sums["test", "tuned"], sums["test", "current"], options.seed)
    said = verdict(gain, _lift_of(out["train"]["tuned"]), _lift_of(out["test"]["tuned"]))
    out["verdict"] = {
        "better": said.better,
        "says": said.says,
        "gain": _lift(gain),
        "overfitting": said.overfit,
    }
    return out


def _lift_of(figures: Mapping[str, Any]) -> Lift:
    return Lift(**figures["lift"])
