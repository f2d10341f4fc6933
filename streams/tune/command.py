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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.common import from_ms
from streams.config import Settings
from streams.logic.rules import Rules
from streams.logic.state.windows import DAY_MS, day_of
from streams.replay import shards
from streams.replay.engine import Outcome
from streams.replay.run import Window
from streams.replay.shards import Job
from streams.tune.alerts import Tally, alert_sums, tally
from streams.tune.evidence import as_json, changes, figures, surge_evidence, tier_evidence
from streams.tune.icp import Choices, Firmographics, choices
from streams.tune.interval import Lift, Sums, difference, lift
from streams.tune.objective import Objective
from streams.tune.recording import record
from streams.tune.replayed import Disagreement, replayed_tiers
from streams.tune.score import Labelled, cut, figures_of, label, sums_of, tiers_of
from streams.tune.search import Constraints, Found, search
from streams.tune.segments import starts
from streams.tune.surges import SurgeFound, search_surges, simplest
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


def _date(day: int) -> str:
    return from_ms(day * DAY_MS).date().isoformat()


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
    opened: dict[str, list[int]]
    """Each account's opportunities' creation times, won or not: what an alert's outcome
    is, whatever the objective."""
    opened_days: Labelled
    """The same runs labelled with those: the days an alert's rate is compared with."""

    def hit(self) -> npt.NDArray[np.bool_]:
        """Per account of the firmographics: an outcome in the training period."""
        first, split = self.periods.first * DAY_MS, self.periods.split * DAY_MS
        accounts = self.labelled.firmographics.accounts if self.labelled.firmographics else ()
        return np.array(
            [any(first <= at < split for at in self.created.get(a, ())) for a in accounts],
            dtype=np.bool_,
        )

    def day_sums(self, period: tuple[int, int]) -> Sums:
        """Per account, its days in the period and those followed by an opportunity
        (every tier together)."""
        days = self.opened_days
        return sums_of(days, np.zeros(len(days.days), dtype=np.int64), period)

    def base_rate(self) -> float:
        """The share of the training account-days followed by an opportunity: what an
        alert is worth more than."""
        days = self.day_sums(self.periods.train)
        every = int(days[:, 2].sum())
        return int(days[:, 3].sum()) / every if every else 0.0


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
    won = options.objective == "won"
    opened = table.created()
    created = table.created(won_only=True) if won else opened
    if why := too_few(created, periods.first, periods.split, periods.end):
        raise NotTunable(f"{why} (won)" if won else why)
    runs = cut(table.runs, periods.split)
    firmographics = Firmographics.of(table.profiles)
    labelled = label(runs, created, rules, options.horizon_days, firmographics)
    # With the won objective, the objective's days are the won ones alone.
    opened_days = label(runs, opened, rules, options.horizon_days) if won else labelled
    return Prepared(table, periods, created, runs, labelled, opened, opened_days)


def prepare(
    settings: Settings, rules: Rules, input_dir: Path | None, options: Options, workers: int = 1
) -> Prepared:
    """The history as the search sees it (what tests hold a rule set's figures to)."""
    wall_now = int(time.time() * 1000)
    return asyncio.run(_prepare(settings, rules, input_dir, options, wall_now, workers))


PER_PASS = 12
"""The most rule sets one replay pass decides over: each holds every account's state."""


async def _tiers(prepared: Prepared, rules: Rules, options: Options) -> tuple[Found, Choices]:
    """The tier table and ICP searched on the training period (the tier cap defaulted)."""
    labelled, periods = prepared.labelled, prepared.periods
    assert labelled.firmographics is not None
    hit = prepared.hit()
    icp = choices(labelled.firmographics, hit, rules.icp)
    constraints = options.constraints
    assert constraints.max_tier1 is not None
    begin = starts(labelled.firmographics, hit, rules, icp, 2 * constraints.max_tier1)
    found = search(
        labelled,
        rules,
        periods.train,
        options.candidates,
        constraints,
        icp,
        options.seed,
        starts=begin,
    )
    if found is None:
        raise NotTunable("no candidate met the constraints on the training period")
    return found, icp


@dataclass(frozen=True)
class _Replays:
    """Rule sets replayed through the real engine, a pass at a time."""

    settings: Settings
    input_dir: Path | None
    wall_now: int
    workers: int

    async def outcomes(self, rule_sets: Sequence[Rules]) -> list[Outcome]:
        out: list[Outcome] = []
        for i in range(0, len(rule_sets), PER_PASS):
            chunk = tuple(rule_sets[i : i + PER_PASS])
            job = Job(self.settings, chunk, self.input_dir, Window(), True, self.wall_now)
            outcomes, _ = await shards.run(job, self.workers, show=sys.stderr.isatty())
            out += outcomes
        return out


async def _surges(
    prepared: Prepared, rules: Rules, options: Options, replays: _Replays
) -> SurgeFound | None:
    """The surge thresholds searched on the training period's alerts: for the alerts
    objective, and to meet the owner-week cap (None: neither was asked for). A cap no
    thresholds tried meet is refused."""
    cap = options.max_alerts_per_owner_week
    if options.objective != "alerts" and cap is None:
        return None

    async def evaluate(rule_sets: Sequence[Rules]) -> list[Tally]:
        return [
            tally(o.alerts, prepared.opened, prepared.periods.train, options.horizon_days)
            for o in await replays.outcomes(rule_sets)
        ]

    keep = options.objective != "alerts"  # only to meet the cap
    base_rate = prepared.base_rate()
    found = await search_surges(rules, evaluate, base_rate, cap, keep)
    found = await simplest(rules, found, evaluate, base_rate, cap)
    if cap is not None and (most := found.tally.most_per_owner_week()) > cap:
        raise NotTunable(
            f"no surge thresholds tried keep every owner within {cap} alerts a week on "
            f"the training period (the closest found: {most} in an owner's busiest week)"
        )
    return found


def tune(
    settings: Settings, rules: Rules, input_dir: Path | None, options: Options, workers: int
) -> dict[str, Any]:
    """The tuned rules and the report (NotTunable when the history cannot say)."""

    async def run() -> dict[str, Any]:
        started, wall_now = time.monotonic(), int(time.time() * 1000)
        prepared = await _prepare(settings, rules, input_dir, options, wall_now, workers)
        periods, labelled = prepared.periods, prepared.labelled
        opts = options
        if opts.constraints.max_tier1 is None:  # tier 1 is what sales works 1:1, not everyone
            cap = max(1, len(labelled.accounts) // 10)
            opts = replace(opts, constraints=replace(opts.constraints, max_tier1=cap))
        tuned, evidence, searched = rules, {}, 0
        if opts.objective != "alerts":
            found, icp = await _tiers(prepared, rules, opts)
            tuned, searched = found.rules, found.tried
            evidence["tiers"] = tier_evidence(found, icp, periods.split - periods.first)
        replays = _Replays(settings, input_dir, wall_now, workers)
        surged = await _surges(prepared, tuned, opts, replays)
        if surged is not None:
            tuned = surged.rules
            evidence["surge"] = surge_evidence(surged.tally, surged.without, prepared.base_rate())
        searched_s = time.monotonic() - started
        outcomes = await replays.outcomes([rules, tuned])
        sides = {"current": rules, "tuned": tuned}
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
            "searched": searched,
            "surge_rules_replayed": 0 if surged is None else surged.tried,
            "constraints": {
                "max_tier1": opts.constraints.max_tier1,
                "max_tier2": opts.constraints.max_tier2,
                "max_alerts_per_owner_week": opts.max_alerts_per_owner_week,
            },
        }
        report |= _report(prepared, sides, outcomes, opts)
        report["changes"] = changes(rules, tuned, evidence)
        report["rules"] = tuned.model_dump(mode="json")
        report["seconds"] = {
            "record_and_search": round(searched_s, 3),
            "total": round(time.monotonic() - started, 3),
        }
        return report

    return asyncio.run(run())


def _report(
    prepared: Prepared, sides: Mapping[str, Rules], outcomes: Sequence[Outcome], options: Options
) -> dict[str, Any]:
    """Each rule set on both periods: its tiers from the table, its alerts from the
    replay; the verdict on the held-out gain in the objective's lift; and whether the
    tiers the replay decided give the table's figures."""
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
            alerts = tally(outcome.alerts, prepared.opened, period, options.horizon_days)
            alerted = alert_sums(alerts, labelled.accounts, prepared.day_sums(period))
            tiered = sums_of(labelled, tiers, period)
            sums[period_name, name] = alerted if options.objective == "alerts" else tiered
            out[period_name][name] = figures(
                scored,
                lift(tiered, options.seed),
                alerts,
                lift(alerted, options.seed),
                period,
                options.constraints,
                options.max_alerts_per_owner_week,
            )
            matches.append(scored == figures_of(again, replayed, period))
        out["replay_matches"][name] = all(matches)
    gain = difference(sums["test", "tuned"], sums["test", "current"], options.seed)
    said = verdict(gain, *(_lift_of(out[p]["tuned"], options.objective) for p in ("train", "test")))
    out["verdict"] = {
        "better": said.better,
        "says": said.says,
        "gain": as_json(gain),
        "overfitting": said.overfit,
    }
    return out


def _lift_of(figures: Mapping[str, Any], objective: str) -> Lift:
    """The objective's lift: the alerts' for alerts, tier 1's otherwise."""
    return Lift(**(figures["alerts"]["lift"] if objective == "alerts" else figures["lift"]))
