"""Surge alerts as `abm tune` judges them: how many were raised in a period, how many
were followed by an opportunity within the horizon, and how many one owner heard in a
week.

An episode's alert counts once. A reissue (the account's owner now known) is the same
alert raised again for its owner, so it is not counted as raised; but it is what the
owner hears, so it counts in the owner's week in place of the alert it reissues. A
held-out alert is raised and measured like any other (whether a surge foretells an
opportunity does not depend on telling anyone) and reaches no owner. Alerts of accounts
with no owner are no owner's load.

An alert is followed when one of the account's opportunities is created strictly after
it and before its horizon, as its outcome is measured (docs/kpis.md, Alerts).
"""

from bisect import bisect_right
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from schemas.common import to_ms
from streams.logic.state.windows import DAY_MS, day_of
from streams.tune.interval import Sums

__all__ = ["KINDS", "PRIOR_ALERTS", "Tally", "alert_score", "alert_sums", "tally"]

KINDS = ("intent", "engagement")
PRIOR_ALERTS = 10
"""Alerts at the overall rate an alert rate is shrunk with: a handful of lucky alerts
must not win."""


@dataclass(frozen=True)
class Tally:
    """One rule set's alerts in one period, by kind: each kind's surges are episodes of
    their own (their own thresholds and cool-down), so one rule set's intent alerts and
    another's engagement alerts add up to what a rule set with both would raise."""

    raised: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(kind, account) -> alerts raised."""
    followed: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(kind, account) -> of them, followed by an opportunity."""
    heard: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    """(kind, owner, week of the period) -> alerts the owner heard."""

    def only(self, kinds: Collection[str]) -> "Tally":
        return Tally(
            Counter({k: n for k, n in self.raised.items() if k[0] in kinds}),
            Counter({k: n for k, n in self.followed.items() if k[0] in kinds}),
            Counter({k: n for k, n in self.heard.items() if k[0] in kinds}),
        )

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(
            self.raised + other.raised,
            self.followed + other.followed,
            self.heard + other.heard,
        )

    def alerts(self) -> int:
        return sum(self.raised.values())

    def hits(self) -> int:
        return sum(self.followed.values())

    def loads(self) -> Counter[tuple[str, int]]:
        """(owner, week) -> alerts heard, every kind together."""
        out: Counter[tuple[str, int]] = Counter()
        for (_, owner, week), n in self.heard.items():
            out[owner, week] += n
        return out

    def most_per_owner_week(self) -> int:
        return max(self.loads().values(), default=0)

    def figures(self, weeks: int) -> dict[str, Any]:
        """What the report shows of them (`weeks`: the period's, counted whole)."""
        loads = self.loads()
        owners = {owner for owner, _ in loads}
        heard = sum(loads.values())
        return {
            "raised": self.alerts(),
            "followed": self.hits(),
            "rate": round(self.hits() / self.alerts(), 4) if self.alerts() else None,
            "heard": heard,
            "owners": len(owners),
            "per_owner_week": round(heard / (len(owners) * weeks), 3) if owners else 0.0,
            "max_per_owner_week": max(loads.values(), default=0),
        }


def _followed(created: Sequence[int], at: int, horizon_days: int) -> bool:
    i = bisect_right(created, at)
    return i < len(created) and created[i] < at + horizon_days * DAY_MS


def tally(
    alerts: Iterable[Mapping[str, Any]],
    created: Mapping[str, Sequence[int]],
    period: tuple[int, int],
    horizon_days: int,
) -> Tally:
    """The alerts (as a replay's outcome gives them) detected in the period's days;
    `created`: each account's opportunities' creation times, sorted."""
    alerts = list(alerts)
    reissued = {a["reissue_of"] for a in alerts if a.get("reissue_of")}
    out = Tally()
    for alert in alerts:
        at = to_ms(datetime.fromisoformat(alert["detected_at"]))
        day = day_of(at)
        if not period[0] <= day < period[1]:
            continue
        kind, account, owner = alert["kind"], alert["account_id"], alert.get("owner")
        if not alert.get("reissue_of"):
            out.raised[kind, account] += 1
            if _followed(created.get(account, ()), at, horizon_days):
                out.followed[kind, account] += 1
        if owner is not None and not alert.get("holdout") and alert["alert_id"] not in reissued:
            out.heard[kind, owner, (day - period[0]) // 7] += 1
    return out


def alert_score(t: Tally, base_rate: float) -> float:
    """The alerts' rate of being followed over `base_rate` (any account-day's), the rate
    shrunk toward the base by PRIOR_ALERTS alerts (1.0: no better than a day at random)."""
    if base_rate <= 0:
        return 0.0
    rate = (t.hits() + PRIOR_ALERTS * base_rate) / (t.alerts() + PRIOR_ALERTS)
    return rate / base_rate


def alert_sums(t: Tally, accounts: Sequence[str], days: Sums) -> Sums:
    """Per account (in `accounts`' order): alerts raised and followed, then its days and
    those followed (from `days`, score.sums_of's rows): interval.py's Sums, so an alert
    rate's lift over any day's gets the same interval as tier 1's."""
    index = {account: i for i, account in enumerate(accounts)}
    alerted = np.zeros((len(accounts), 2), dtype=np.int64)
    for column, counts in enumerate((t.raised, t.followed)):
        for (_, account), n in counts.items():
            if (i := index.get(account)) is not None:
                alerted[i, column] += n
    every = np.stack([days[:, 0] + days[:, 2], days[:, 1] + days[:, 3]], axis=1)
    return np.concatenate([alerted, every], axis=1).astype(np.int64)
