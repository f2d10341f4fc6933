"""What followed each surge alert: a seller's response and an opportunity, by a horizon.

An alert is watched in its account's state from the moment it is raised until
`opportunity_days` later on the account's clock. Meanwhile the account's first sales
activity after it is its response, and the first opportunity created after it is its
opportunity (with the amount and the won or lost its stage events gave by the horizon).
When the horizon passes (an event, or the staleness timer, moves the clock there) the
watch closes and its outcome is published; the closed watch stays for the KPIs, which
count every watch the same whether it is open or closed, so a figure never depends on
when the timer fired.

A share of accounts is held out, period by period: their surges are told to no seller,
and measured all the same. Which ones is a keyed hash of the account and the period the
surge began in, so a restart, a replay and a backtest hold out the same surges.
"""

import hashlib
import hmac

from schemas.common import from_ms
from schemas.inputs import SalesActivity
from schemas.outputs import AlertOutcome, SurgeAlert
from streams.logic.rules import Outcomes, Rules
from streams.logic.state.opportunities import LOST, WON
from streams.logic.state.state import AccountState, AlertWatch
from streams.logic.state.windows import DAY_MS

__all__ = [
    "close_due",
    "held_out",
    "next_horizon",
    "note_activity",
    "note_deal",
    "outcome_of",
    "response_ms",
    "sla_met",
    "watch",
]

_SPAN = 2**64


def held_out(account_id: str, at: int, outcomes: Outcomes) -> bool:
    """Whether the account's surges beginning at `at` (epoch ms) are in the holdout: the
    first 8 bytes of HMAC-SHA256(holdout_key, account id and the holdout period `at`
    falls in), read as a fraction below `holdout`.

    The unit is the account, not the alert: a seller's call answers every open alert of
    the account, so a held-out alert beside a delivered one on the same account would
    count the delivered one's answer, and the lift would shrink toward 1. Each period
    (`holdout_days`) draws the accounts anew, so no account goes without alerts for good.
    """
    if outcomes.holdout <= 0:
        return False
    period = at // (outcomes.holdout_days * DAY_MS)
    message = f"{account_id}|{period}".encode()
    digest = hmac.new(outcomes.holdout_key.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") < outcomes.holdout * _SPAN


def watch(state: AccountState, alerts: list[SurgeAlert], now: int, rules: Rules) -> str | None:
    """Start watching each new alert raised at `now`; a reissue (the episode's owner now
    known) names the owner of its episode's watch. Returns "alert_outcomes" when the
    limit made room: the oldest closed watch left (the oldest of all if none is closed)."""
    met = None
    for alert in alerts:
        if alert.reissue_of is not None:
            for held in state.watches:
                if held.alert_id == alert.reissue_of:
                    held.owner = alert.owner
            continue
        if len(state.watches) >= rules.limits.alert_outcomes:
            met = "alert_outcomes"
            closed = [i for i, w in enumerate(state.watches) if w.closed]
            del state.watches[closed[0] if closed else 0]
        state.watches.append(
            AlertWatch(
                alert_id=alert.alert_id,
                raised_at=now,
                kind=alert.kind,
                cluster=alert.cluster,
                tier=alert.tier,
                holdout=alert.holdout,
                owner=alert.owner,
                horizon=now + rules.outcomes.opportunity_days * DAY_MS,
            )
        )
    return met


def _open_at(w: AlertWatch, at: int) -> bool:
    """Whether something at `at` follows the watched alert: after it, before its horizon."""
    return not w.closed and w.raised_at < at < w.horizon


def note_activity(state: AccountState, activity: SalesActivity, at: int) -> None:
    """A rep touched the account at `at`: the response to every open alert before it that
    had none (or a later one, when activity arrives out of order)."""
    for w in state.watches:
        if _open_at(w, at) and (w.response is None or at < w.response[0]):
            by_owner = None if w.owner is None else activity.rep_id == w.owner
            w.response = [at, activity.rep_id, by_owner]


def note_deal(
    state: AccountState, opportunity_id: str, created: int, stage: str, amount: float, at: int
) -> None:
    """A stage event at `at` of an opportunity created at `created` (its earliest event
    so far). The opportunity created first after an open alert and before its horizon
    (the smallest id among equals) is the alert's opportunity; a later event of it,
    before the horizon, updates its amount and result. An earlier event arriving late
    can show that the credited opportunity existed before the alert: the credit is
    taken back."""
    won = True if stage == WON else False if stage == LOST else None
    for w in state.watches:
        if w.closed:
            continue
        held = w.opportunity
        if held is not None and held[0] == opportunity_id:
            if created <= w.raised_at:
                w.opportunity = None  # it was there before the alert
            elif w.raised_at < at < w.horizon and at >= held[4]:
                held[1], held[2], held[3], held[4] = created, amount, won, at
            else:
                held[1] = created
        elif (
            w.raised_at < created < w.horizon
            and at < w.horizon
            and (held is None or (created, opportunity_id) < (held[1], held[0]))
        ):
            w.opportunity = [opportunity_id, created, amount, won, at]


def response_ms(w: AlertWatch) -> int | None:
    return None if w.response is None else w.response[0] - w.raised_at


def sla_met(w: AlertWatch, outcomes: Outcomes) -> bool:
    waited = response_ms(w)
    return waited is not None and waited <= outcomes.response_sla_minutes * 60_000


def close_due(state: AccountState, now: int, rules: Rules) -> list[AlertOutcome]:
    """Close the watches whose horizon `now` has reached; their outcomes, oldest first."""
    closed = []
    for w in state.watches:
        if not w.closed and w.horizon <= now:
            w.closed = True
            closed.append(outcome_of(state, w, rules.outcomes))
    return closed


def next_horizon(state: AccountState) -> int | None:
    """When the next open watch closes: the account is due then."""
    return min((w.horizon for w in state.watches if not w.closed), default=None)


def outcome_of(state: AccountState, w: AlertWatch, outcomes: Outcomes) -> AlertOutcome:
    waited = response_ms(w)
    response, opportunity = w.response, w.opportunity
    name, _owner = state.name_and_owner()
    return AlertOutcome(
        alert_id=w.alert_id,
        account_id=state.account_id,
        account_name=name,
        owner=w.owner,
        kind=w.kind,  # type: ignore[arg-type]
        cluster=w.cluster,
        tier=w.tier,
        raised_at=from_ms(w.raised_at),
        holdout=w.holdout,
        first_response_at=None if response is None else from_ms(response[0]),
        response_minutes=None if waited is None else waited / 60_000,
        responded_by=None if response is None else response[1],
        responded_by_owner=None if response is None else response[2],
        sla_met=sla_met(w, outcomes),
        opportunity_id=None if opportunity is None else opportunity[0],
        opportunity_created_at=None if opportunity is None else from_ms(opportunity[1]),
        opportunity_amount=None if opportunity is None else opportunity[2],
        opportunity_won=None if opportunity is None else opportunity[3],
        horizon_at=from_ms(w.horizon),
    )
