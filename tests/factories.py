"""Builders of valid input events for tests, parsed from JSON as the agents parse them."""

import itertools

import orjson

from schemas.common import to_ms
from schemas.inputs import (
    AccountProfile,
    ContactRoster,
    DealEvent,
    EngagementEvent,
    IntentEvent,
    SalesActivity,
    SpendEvent,
)
from streams.logic.inputs.apply import apply_event, apply_roster, apply_tick
from streams.logic.inputs.decode import Coords, Rejected
from streams.logic.rules import Rules
from streams.logic.state.roster import received

_ids = itertools.count()
_offsets = itertools.count()

T0 = 1_780_000_000_000  # 2026-05-28, a fixed event-time origin for pure tests
DAY = 86_400_000


def _parse(model, **fields):
    return model.model_validate_json(
        orjson.dumps({k: v for k, v in fields.items() if v is not None})
    )


def engagement(account="acme", at=T0, action="page_view", contact="c1", channel="web", **kw):
    return _parse(
        EngagementEvent,
        event_id=kw.pop("event_id", f"e{next(_ids)}"),
        account_id=account,
        contact_id=contact,
        channel=channel,
        action=action,
        occurred_at=at,
        **kw,
    )


def intent(account="acme", at=T0, topic="crm", score=70.0, provider="bombora", **kw):
    return _parse(
        IntentEvent,
        event_id=kw.pop("event_id", f"i{next(_ids)}"),
        account_id=account,
        provider=provider,
        topic=topic,
        score=score,
        occurred_at=at,
    )


def deal(account="acme", at=T0, opp="o1", stage="prospecting", amount=60_000.0, **kw):
    return _parse(
        DealEvent,
        event_id=kw.pop("event_id", f"d{next(_ids)}"),
        account_id=account,
        opportunity_id=opp,
        stage=stage,
        amount=amount,
        occurred_at=at,
        **kw,
    )


def spend(account="acme", at=T0, amount=1_000.0, campaign="c1", **kw):
    return _parse(
        SpendEvent,
        event_id=kw.pop("event_id", f"s{next(_ids)}"),
        campaign_id=campaign,
        account_id=account,
        amount=amount,
        occurred_at=at,
    )


def activity(account="acme", at=T0, rep="ana", kind="call", **kw):
    return _parse(
        SalesActivity,
        event_id=kw.pop("event_id", f"a{next(_ids)}"),
        account_id=account,
        rep_id=rep,
        type=kind,
        occurred_at=at,
    )


def profile(account="acme", fit=85.0, acv=80_000.0, **kw):
    return _parse(
        AccountProfile,
        **{"account_id": account, "name": account.title(), "fit_score": fit, "expected_acv": acv}
        | kw,
    )


def roster(account="acme", contacts=(), at=T0):
    """`contacts`: (contact_id, title, seniority) triples (None leaves a field out)."""
    people = [
        {k: v for k, v in (("contact_id", c), ("title", t), ("seniority", s)) if v is not None}
        for c, t, s in contacts
    ]
    return _parse(ContactRoster, account_id=account, contacts=people, updated_at=at)


def coords(topic="abm.engagement.v1", partition=0, offset=None, timestamp=T0):
    return Coords(topic, partition, next(_offsets) if offset is None else offset, timestamp)


WALL = T0 + 400 * DAY  # the wall clock is far ahead: nothing in these tests is "future"


def replay(events, state=None, rules=None, wall=WALL, ticks=False, rosters=None):
    """Apply events in order as an agent does (rejections skipped; a roster replaces the
    account's in `rosters` and re-tiers it); with `ticks`, the staleness timer too, at
    each account's due times before each event (as replay does).

    Returns the final state, every tier change and every surge alert.
    """
    rules = rules or Rules()
    rosters = {} if rosters is None else rosters
    changes, alerts = [], []
    for event in events:
        if isinstance(event, ContactRoster):
            c = coords("abm.contacts.v1")
            aid = event.account_id
            rosters[aid] = received(rosters.get(aid), aid, event, c.topic, c.offset, c.timestamp)
            if state is not None:
                retiered = apply_roster(state, rules, rosters)
                changes += [retiered.change] if retiered.change else []
                alerts.extend(retiered.alerts)
            continue
        at = getattr(event, "occurred_at", None)
        while ticks and state is not None and at is not None and state.due_at is not None:
            due = state.due_at
            if due > to_ms(at):
                break
            ticked = apply_tick(state, rules, due, rosters)
            if ticked.change:
                changes.append(ticked.change)
            alerts.extend(ticked.alerts)
            if state.due_at == due:
                break
        try:
            effect = apply_event(state, event, coords(), rules, wall, rosters)
        except Rejected:
            continue
        state = effect.state
        if effect.change:
            changes.append(effect.change)
        alerts.extend(effect.alerts)
    return state, changes, alerts
