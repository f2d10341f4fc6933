"""How many more opportunities the alerts brought: the risk ratio of delivered to held-out
alerts, with its 95% confidence interval, or a plain "not enough data".

The interval is Katz's log method (Katz et al., 1978): ln(RR) is taken as normal with
variance 1/a - 1/n1 + 1/c - 1/n2, the usual interval for a ratio of two binomial
proportions. It needs an opportunity in each group and does poorly on tiny groups, so
under MIN_GROUP alerts in either group no number is given at all.
"""

import math
from dataclasses import dataclass

__all__ = ["METHOD", "MIN_GROUP", "Lift", "lift"]

MIN_GROUP = 10
"""Alerts each group needs before a lift is reported."""
METHOD = "risk ratio, 95% interval by Katz's log method"
Z_95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Lift:
    value: float | None
    low: float | None
    high: float | None
    note: str
    """'measured', or why there is no figure."""


def lift(with_delivered: int, delivered: int, with_held_out: int, held_out: int) -> Lift:
    """The opportunity rate after delivered alerts over the rate after held-out ones."""
    if held_out == 0:
        return Lift(
            None,
            None,
            None,
            "no holdout: no alert here was held out ([rules.outcomes] holdout)",
        )
    if delivered < MIN_GROUP or held_out < MIN_GROUP:
        return Lift(
            None,
            None,
            None,
            f"not enough data: {delivered} delivered and {held_out} held-out alerts "
            f"(at least {MIN_GROUP} of each)",
        )
    if with_delivered == 0 or with_held_out == 0:
        return Lift(
            None,
            None,
            None,
            f"not enough data: {with_delivered} and {with_held_out} opportunities after "
            "delivered and held-out alerts (at least one in each)",
        )
    ratio = (with_delivered * held_out) / (delivered * with_held_out)
    spread = Z_95 * math.sqrt(1 / with_delivered - 1 / delivered + 1 / with_held_out - 1 / held_out)
    return Lift(ratio, ratio * math.exp(-spread), ratio * math.exp(spread), "measured")
