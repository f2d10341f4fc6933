"""An opportunity as the set of its stage events, so its facts do not depend on arrival order.

CRM updates arrive late, twice, or out of order. Keeping each opportunity's stage events
(those the facts can still depend on) and deriving everything from them sorted by event
time (ties broken by stage order) gives the same stage, amount, close time and funnel
whatever order they came in: what live processing, a replay and a hand-computed ground
truth all agree on.
"""

from typing import Any

from schemas.inputs import DealEvent
from streams.logic.state.state import Opportunity

__all__ = ["LOST", "WON", "reached", "record"]

WON, LOST = "closed_won", "closed_lost"
_CLOSED = (WON, LOST)


def _order(stages: list[str]) -> dict[str, int]:
    return {stage: i for i, stage in enumerate(stages)}


def record(
    opp: Opportunity | None, e: DealEvent, at: int, stages: list[str], amount: float
) -> Opportunity:
    """Add one stage event, its `amount` in the base currency, and re-derive the
    opportunity's facts from all of them."""
    deal_type = str(e.deal_type)
    entry = [at, e.stage, amount, deal_type, e.currency, e.product_line or ""]
    if opp is None:
        opp = Opportunity(
            stage=e.stage, amount=amount, deal_type=deal_type, currency=e.currency, first_seen=at
        )
    opp.history.append(entry)
    order = _order(stages)
    opp.history.sort(key=lambda h: (h[0], order.get(h[1], len(order)), *h[2:]))
    latest = opp.history[-1]
    _at, opp.stage, opp.amount, opp.deal_type, opp.currency = latest[:5]
    opp.product_line = latest[5] if len(latest) > 5 and latest[5] else None
    opp.first_seen = opp.history[0][0]
    opp.closed_at = None
    if opp.stage in _CLOSED:
        # Closed since the first event of the final run in this stage: a repeated
        # closed_won does not move the close, a reopened deal closes anew.
        opp.closed_at = _at
        for h in opp.history[::-1]:
            if h[1] != opp.stage:
                break
            opp.closed_at = h[0]
    _trim(opp.history, order)
    return opp


def _trim(history: list[list[Any]], order: dict[str, int]) -> None:
    """Keep only the events the facts can still depend on, whatever arrives later: the
    first (creation), the furthest stage reached, and the final run of the last stage
    with the event just before it (a late event can land in the run, or between it and
    that event, and only there can it move the close). Every other event is between
    those and can never again be first, last, furthest or next to the final run, so an
    opportunity updated a thousand times keeps a handful of events, not a thousand."""
    count = len(history)
    if count <= 3:
        return
    last = history[-1][1]
    start = count - 1
    while start > 0 and history[start - 1][1] == last:
        start -= 1
    keep = {0, *range(max(0, start - 1), count)}
    furthest = max(
        (i for i, h in enumerate(history) if h[1] != LOST and h[1] in order),
        key=lambda i: order[history[i][1]],
        default=None,
    )
    if furthest is not None:
        keep.add(furthest)
    if len(keep) < count:
        history[:] = [history[i] for i in sorted(keep)]


def reached(opp: Opportunity, stages: list[str]) -> int:
    """How far down the funnel it got: the highest stage index any event reached.

    Skipped stages count as passed; closed_lost is where a deal leaves, not a step.
    """
    order = _order(stages)
    return max((order[h[1]] for h in opp.history if h[1] != LOST and h[1] in order), default=-1)
