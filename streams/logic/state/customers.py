"""Who is a customer, since when, and when a customer churned: one answer for the journey
stage and the retention KPIs.

A customer is an account with a won deal. It churns when a renewal closes lost after its
last win, or when its renewal date (the last win's day plus `revenue.renewal_term_days`)
passes without a new win, whichever comes first. Deals are all we see of a contract, so
the last win is taken as the start of the current term: a renewal or an expansion won
later starts a new one.
"""

from dataclasses import dataclass

from schemas.inputs import DealType
from streams.logic.state.opportunities import LOST, WON
from streams.logic.state.state import AccountState
from streams.logic.state.windows import day_of

__all__ = ["Customer", "customer_of", "is_customer"]

RENEWAL = DealType.RENEWAL.value


@dataclass(frozen=True, slots=True)
class Customer:
    lost_on: int | None
    """The day a renewal closed lost after the last win, before the renewal date:
    churned then."""
    renewal_day: int
    """The day the current term ends: churned on it unless a deal is won before."""

    def churn_day(self, today: int) -> int | None:
        """The day the customer churned, as seen on `today`; None while it is one."""
        if self.lost_on is not None:
            return self.lost_on
        return self.renewal_day if self.renewal_day <= today else None


def customer_of(state: AccountState, term_days: int) -> Customer | None:
    """The account as a customer (None: never won a deal)."""
    last: int | None = None
    lost: list[int] = []
    for o in state.opportunities.values():
        closed = o.closed_at
        if closed is None:
            continue
        if o.stage == WON and (last is None or closed > last):
            last = closed
        elif o.stage == LOST and o.deal_type == RENEWAL:
            lost.append(closed)
    if last is None:
        return None
    renewal_day = day_of(last) + term_days
    first_lost = min((closed for closed in lost if closed > last), default=None)
    lost_on = None
    if first_lost is not None and day_of(first_lost) < renewal_day:
        lost_on = day_of(first_lost)  # lost on or after the date: churned on the date
    return Customer(lost_on=lost_on, renewal_day=renewal_day)


def is_customer(state: AccountState, term_days: int, today: int) -> bool:
    """A customer that has not churned by `today`."""
    customer = customer_of(state, term_days)
    return customer is not None and customer.churn_day(today) is None
