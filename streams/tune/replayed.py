"""The tiers a real replay decided, day by day, read back from its tier changes: what
`abm tune` holds the table's figures to.

A replay emits a change each time an account's tier moves, stamped with the account's
clock, in the order it decided them; the tier an account stood in at a day's end is the
one its last change by then left. One case has no event time to stamp: a profile is
applied before the account's events (it holds for the whole history), at the time its
record was written; the changes decided then hold from the account's first day.
"""

from bisect import bisect_right
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

import numpy as np

from schemas.common import to_ms
from streams.logic.state.windows import DAY_MS, day_of
from streams.tune.columns import Ints
from streams.tune.table import Run

__all__ = ["Disagreement", "Timeline", "replayed_tiers"]


class Disagreement(RuntimeError):
    """The replay's changes cannot be read as a timeline (a change stamped before the one
    decided ahead of it): the table and the replay measured different things."""


Timeline = tuple[list[int], list[int], list[int], int]
"""An account's changes: effective times, their days, the tier after each, and the tier
before the first."""


def _timeline(changes: Sequence[Mapping[str, Any]], applied_first: Collection[int]) -> Timeline:
    times: list[int] = []
    tiers: list[int] = []
    leading = True
    for change in changes:
        at = to_ms(datetime.fromisoformat(change["changed_at"]))
        leading = leading and at in applied_first
        effective = -1 if leading else at
        if times and effective < times[-1]:
            raise Disagreement(
                f"{change['account_id']}: a tier change at {change['changed_at']} was "
                "decided after a later one"
            )
        times.append(effective)
        tiers.append(int(change["tier"]))
    before = int(changes[0]["previous_tier"]) if changes else 0
    return times, [day_of(t) if t >= 0 else -1 for t in times], tiers, before


def replayed_tiers(
    runs: Sequence[Run],
    changes: Sequence[Mapping[str, Any]],
    applied_first: Mapping[str, Collection[int]],
) -> tuple[list[Run], Ints]:
    """The runs cut wherever the replay's tier moved, and each piece's tier. `changes`:
    the replay's, grouped by account, each account's in decision order; `applied_first`:
    per account, the record times of what was applied before its events (its profile)."""
    timelines = {
        account: _timeline(list(group), applied_first.get(account, ()))
        for account, group in groupby(changes, key=lambda c: str(c["account_id"]))
    }
    pieces: list[Run] = []
    tiers: list[int] = []
    for run in runs:
        times, days, after, before = timelines.get(run.account, ([], [], [], 0))
        end = run.first_day + run.days
        cuts = sorted({d for d in days if run.first_day < d < end})
        for first, last in zip([run.first_day, *cuts], [*cuts, end], strict=True):
            i = bisect_right(times, (first + 1) * DAY_MS - 1)
            pieces.append(Run(run.account, first, last - first, run.measured))
            tiers.append(after[i - 1] if i else before)
    return pieces, np.array(tiers, dtype=np.int64)
