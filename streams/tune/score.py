"""A candidate rule set's figures on the recorded runs, without replaying.

What is scored is account-days: an account in tier 1 on a day is a hit when an
opportunity of that account is created in the `horizon_days` after the day. Which days
those are does not depend on the rules, so each run carries, beside its length, how many
of its days are followed by an opportunity; a candidate only decides each run's tier
(`decide_all`) and sums.
"""

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from streams.logic.rules import Icp, Rules
from streams.logic.state.windows import DAY_MS
from streams.tune.columns import Columns, Floats, Ints, Memo, decide_all
from streams.tune.icp import Firmographics, fit_all
from streams.tune.interval import Lift, Sums, lift
from streams.tune.table import Run

__all__ = [
    "Figures",
    "Labelled",
    "cut",
    "figures",
    "figures_of",
    "label",
    "lift_of",
    "sums_of",
    "tiers_of",
]


@dataclass(frozen=True, slots=True)
class Labelled:
    """The runs as columns, with what the objective says of their days."""

    columns: Columns
    accounts: tuple[str, ...]
    account: Ints
    """Each run's account, as an index into `accounts`."""
    first_day: Ints
    days: Ints
    hits: Ints
    """Days of the run followed by an opportunity created within the horizon."""
    icp: Icp
    """The ICP the fit column was measured under."""
    firmographics: Firmographics | None = None
    """The accounts' profiles, to measure fit under another ICP (None: fit as measured)."""
    profile: Ints | None = None
    """Each run's account as an index into `firmographics` (-1: no profile, no fit)."""
    memo: Memo = field(default_factory=Memo, compare=False)
    """Masks and fit columns kept across candidates (columns.Memo)."""
    fits: dict[str, Floats] = field(default_factory=dict, compare=False)
    """The fit column under each ICP tried (by its JSON), a few at a time."""

    def within(self, period: "Period") -> "Labelled":
        """Only the runs of `period`: what a search scoring one period over and over
        reads, so no candidate pays for picking them out."""
        rows = _inside(self, period)
        return replace(
            self,
            columns=self.columns.take(rows),
            account=self.account[rows],
            first_day=self.first_day[rows],
            days=self.days[rows],
            hits=self.hits[rows],
            profile=None if self.profile is None else self.profile[rows],
            memo=Memo(),
            fits={},
        )


def cut(runs: Sequence[Run], day: int) -> list[Run]:
    """The runs, those across `day` cut in two there: each then lies wholly before the
    day or from it on (a training period and a held-out one)."""
    out = []
    for run in runs:
        end = run.first_day + run.days
        if run.first_day < day < end:
            out.append(Run(run.account, run.first_day, day - run.first_day, run.measured))
            out.append(Run(run.account, day, end - day, run.measured))
        else:
            out.append(run)
    return out


def _followed(created: Sequence[int], day: int, horizon_days: int) -> bool:
    """An opportunity created after `day` ends and within `horizon_days` of it."""
    end = (day + 1) * DAY_MS
    i = bisect_right(created, end - 1)
    return i < len(created) and created[i] < end + horizon_days * DAY_MS


def label(
    runs: Sequence[Run],
    created: Mapping[str, Sequence[int]],
    rules: Rules,
    horizon_days: int,
    firmographics: Firmographics | None = None,
) -> Labelled:
    """Runs with their hit days; `created` holds each account's opportunity creation
    times (epoch ms), sorted; `firmographics`, the profiles the runs' fit was measured
    from under `rules.icp`, lets a candidate ICP be scored."""
    hits = [
        sum(
            _followed(created.get(run.account, ()), day, horizon_days)
            for day in range(run.first_day, run.first_day + run.days)
        )
        for run in runs
    ]
    accounts = tuple(sorted({run.account for run in runs}))
    index = {account: i for i, account in enumerate(accounts)}
    profile = None
    if firmographics is not None:
        row = {account: i for i, account in enumerate(firmographics.accounts)}
        profile = np.array([row.get(run.account, -1) for run in runs], dtype=np.int64)
    return Labelled(
        columns=Columns.of([run.measured for run in runs], rules),
        accounts=accounts,
        account=np.array([index[run.account] for run in runs], dtype=np.int64),
        first_day=np.array([run.first_day for run in runs], dtype=np.int64),
        days=np.array([run.days for run in runs], dtype=np.int64),
        hits=np.array(hits, dtype=np.int64),
        icp=rules.icp,
        firmographics=firmographics,
        profile=profile,
    )


FITS = 16
"""Fit columns kept (one per ICP tried; the search changes the ICP rarely)."""


def _fit(labelled: Labelled, icp: Icp, key: str) -> Floats:
    """The fit column under `icp`, from the profiles."""
    fit = labelled.fits.get(key)
    if fit is None:
        if labelled.firmographics is None or labelled.profile is None:
            raise ValueError("another ICP needs the accounts' firmographics")
        fits = fit_all(labelled.firmographics, icp)
        has = labelled.profile >= 0
        fit = np.where(has, fits[np.where(has, labelled.profile, 0)], np.nan)
        if len(labelled.fits) >= FITS:
            labelled.fits.clear()
        labelled.fits[key] = fit
    return fit


def tiers_of(labelled: Labelled, rules: Rules) -> Ints:
    """Each run's tier under `rules`, its fit measured anew where `rules` has another ICP."""
    if rules.icp == labelled.icp:
        return decide_all(labelled.columns, rules, labelled.memo)[0]
    key = rules.icp.model_dump_json()
    columns = replace(labelled.columns, fit=_fit(labelled, rules.icp, key))
    return decide_all(columns, rules, labelled.memo, key)[0]


@dataclass(frozen=True, slots=True)
class Figures:
    """What a rule set does over the labelled days."""

    tier_days: tuple[int, ...]
    """Account-days in tier 0 (untiered), 1, 2 and 3."""
    peak_accounts: tuple[int, ...]
    """The most accounts in each tier on any one day."""
    tier1_hits: int
    rest_hits: int

    @property
    def opportunity_rate_tier1(self) -> float | None:
        days = self.tier_days[1]
        return self.tier1_hits / days if days else None

    @property
    def opportunity_rate_rest(self) -> float | None:
        days = sum(self.tier_days) - self.tier_days[1]
        return self.rest_hits / days if days else None


def _peaks(first_day: Ints, days: Ints, tiers: Ints) -> tuple[int, ...]:
    """The most runs of each tier (0 to 3) covering one day (a run is one account's): the
    runs' starts and ends counted per tier and day (one bincount each), summed up."""
    if not len(tiers):
        return (0, 0, 0, 0)
    origin = int(first_day.min())
    span = int((first_day + days).max()) - origin + 1
    at = tiers * span - origin
    steps = np.bincount(at + first_day, minlength=4 * span) - np.bincount(
        at + first_day + days, minlength=4 * span
    )
    return tuple(int(n) for n in np.cumsum(steps.reshape(4, span), axis=1).max(axis=1))


Period = tuple[int, int] | None
"""[first day, end day) of the runs to count (all without one; `cut` the runs at its
ends first)."""


def _inside(labelled: Labelled, period: Period) -> npt.NDArray[np.bool_]:
    if period is None:
        return np.ones(len(labelled.days), dtype=np.bool_)
    return (labelled.first_day >= period[0]) & (labelled.first_day < period[1])


def sums_of(labelled: Labelled, tiers: Ints, period: Period = None) -> Sums:
    """Per account, its tier-1 days in `period` and those followed by an opportunity,
    and the same of its other days (interval.py's Sums); `tiers`: each run's."""
    inside, n = _inside(labelled, period), len(labelled.accounts)
    tier1, rest = inside & (tiers == 1), inside & (tiers != 1)
    columns = [
        np.bincount(labelled.account[mask], values[mask], n)
        for mask in (tier1, rest)
        for values in (labelled.days, labelled.hits)
    ]
    return np.stack(columns, axis=1).astype(np.int64)


def lift_of(labelled: Labelled, rules: Rules, period: Period = None, seed: int = 0) -> Lift:
    """Tier 1's rate over the rest's in `period`, with its interval."""
    return lift(sums_of(labelled, tiers_of(labelled, rules), period), seed)


def figures(labelled: Labelled, rules: Rules, period: Period = None) -> Figures:
    """`rules`' figures over the runs of `period`."""
    return figures_of(labelled, tiers_of(labelled, rules), period)


def figures_of(labelled: Labelled, tiers: Ints, period: Period = None) -> Figures:
    """The figures of runs in these tiers (decided by rules, or read from a replay)."""
    inside = _inside(labelled, period)
    days, hits, first, tier = (
        labelled.days[inside],
        labelled.hits[inside],
        labelled.first_day[inside],
        tiers[inside],
    )
    tier_days = np.bincount(tier, weights=days, minlength=4)
    tier_hits = np.bincount(tier, weights=hits, minlength=4)
    return Figures(
        tier_days=tuple(int(n) for n in tier_days),
        peak_accounts=_peaks(first, days, tier),
        tier1_hits=int(tier_hits[1]),
        rest_hits=int(tier_hits.sum() - tier_hits[1]),
    )
