"""Applying one event (or the passing of time) to an account's state, and re-tiering it.

These functions are the whole of the live path's decisions: agents and replay call them
with the same arguments and get the same state, tier changes and rejections.
"""

from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Any

from schemas.common import from_ms, to_ms
from schemas.inputs import (
    AccountProfile,
    DealEvent,
    EngagementEvent,
    IntentEvent,
    SalesActivity,
    SpendEvent,
)
from schemas.outputs import (
    AlertOutcome,
    DeadLetterReason,
    StageChange,
    SurgeAlert,
    TierChange,
    TierInputs,
)
from streams.logic.identity.directory import domains_of
from streams.logic.inputs.decode import Coords, Event, Rejected, owner_of
from streams.logic.kpis.kpis import to_units
from streams.logic.rules import UNAWARE, Currencies, Limits, Rules
from streams.logic.signals.aggregates import Aggregates, cached, milli, windows_of
from streams.logic.signals.alerts import alerted_episodes, detect_surges, owned_alerts
from streams.logic.signals.committee import persona_counts
from streams.logic.signals.fit import fit_score
from streams.logic.signals.journey import REMOVED, stage_change, stage_of
from streams.logic.signals.outcomes import close_due, next_horizon, note_activity, note_deal, watch
from streams.logic.signals.tiering import Signals, decide, measure
from streams.logic.state.opportunities import LOST, WON, record
from streams.logic.state.roster import NO_ROSTERS, Rosters
from streams.logic.state.state import AccountState, CampaignTouch, Clock, DayBucket, Profile
from streams.logic.state.windows import DAY_MS, WEEK_DAYS, day_of, in_window, sooner, window_start

__all__ = [
    "CLOSED_STAGES",
    "Effect",
    "apply_event",
    "apply_removal",
    "apply_roster",
    "apply_tick",
    "evaluate",
]

TimedEvent = EngagementEvent | IntentEvent | DealEvent | SpendEvent | SalesActivity
CLOSED_STAGES = frozenset({WON, LOST})
DEDUP_DAYS = 7
_CLOCK: dict[type[TimedEvent], str] = {
    EngagementEvent: Clock.ENGAGEMENT.value,
    IntentEvent: Clock.INTENT.value,
    DealEvent: Clock.DEALS.value,
    SpendEvent: Clock.SPEND.value,
    SalesActivity: Clock.ACTIVITY.value,
}
"""Each event's clock, as the plain letter the state record keys it by."""


class Effect:
    """What an event (a tick, a roster, a removal) did to its account: the state after it,
    whether that changed and must be stored (`write`), and the outputs it made.

    A plain class for the reason `Signals` is one: one is made per event.
    """

    __slots__ = (
        "alerts",
        "change",
        "duplicate",
        "limited",
        "outcomes",
        "removed",
        "stage_change",
        "state",
        "write",
    )

    def __init__(
        self,
        state: AccountState,
        write: bool,
        change: TierChange | None = None,
        alerts: list[SurgeAlert] | None = None,
        duplicate: bool = False,
        stage_change: StageChange | None = None,
        removed: bool = False,
    ) -> None:
        self.state = state
        self.write = write
        self.change = change
        self.alerts: list[SurgeAlert] = [] if alerts is None else alerts
        self.duplicate = duplicate
        self.stage_change = stage_change
        self.removed = removed
        """The account is gone: delete its state and view once the changes are sent."""
        self.limited: str | None = None
        """The rules.limits key the event met (something was dropped to keep the limit)."""
        self.outcomes: list[AlertOutcome] = []
        """Outcomes of alerts whose horizon this passed (signals/outcomes.py)."""


def _surge_due(state: AccountState, windows: Aggregates) -> int | None:
    """While a surge is on, look again when its week drops data: that is how it ends."""
    if windows.week_first is not None and state.surges:  # most accounts have never surged
        for episode in state.surges.values():
            if episode.active:
                return (windows.week_first + WEEK_DAYS) * DAY_MS
    return None


def _tier_change(
    state: AccountState, tier: int, rule: str, now: int, signals: Signals, personas: dict[str, int]
) -> TierChange:
    previous, state.tier = state.tier, tier
    state.rule = rule
    state.version += 1
    name, owner = state.name_and_owner()
    return TierChange(
        account_id=state.account_id,
        account_name=name,
        owner=owner,
        previous_tier=previous,
        tier=tier,
        rule=rule,
        inputs=TierInputs(
            fit=signals.fit,
            acv=signals.acv,
            intent_max=signals.intent_max,
            intent_topics=list(signals.intent_topics),
            engagement_points=signals.engagement_points,
            engaged_contacts=signals.engaged_contacts,
            recent_intent=signals.recent_intent,
            recent_engagement=signals.recent_engagement,
            personas=personas,  # type: ignore[arg-type]
        ),
        changed_at=from_ms(now),
        version=state.version,
    )


def evaluate(state: AccountState, rules: Rules, now: int, rosters: Rosters = NO_ROSTERS) -> Effect:
    """Re-tier and re-check surges at `now`; return what to publish (state to be written).
    `rosters` holds the account's roster, read only if a decision needs personas."""
    windows = windows_of(state, rules, now)
    signals = measure(state, rules, now, windows, rosters)
    tier, rule = decide(signals, rules)
    state.rule = rule
    change = None
    if tier != state.tier:
        personas = signals.personas
        if personas is None:
            roster = rosters.get(state.account_id)
            personas = persona_counts(list(windows.contacts), roster, rules)
        change = _tier_change(state, tier, rule, now, signals, personas)
    alerts = detect_surges(state, rules, now, windows, rosters)
    limited = watch(state, alerts, now, rules) if alerts else None
    stage, stage_due = stage_of(state, rules, signals, windows)
    moved = stage_change(state, rules, stage, stage, now, signals, windows)
    due = sooner(sooner(signals.due_at, _surge_due(state, windows)), stage_due)
    effect = Effect(state, write=True, change=change, alerts=alerts, stage_change=moved)
    if state.watches:
        effect.outcomes = close_due(state, now, rules)
        due = sooner(due, next_horizon(state))
    state.due_at = due
    effect.limited = limited
    return effect


def apply_removal(
    state: AccountState | None, rules: Rules, coords: Coords, rosters: Rosters = NO_ROSTERS
) -> Effect | None:
    """A tombstone on the profiles topic removes the account: a last tier change and stage
    change (to 0 and unaware, rule `removed`) tell downstream systems, and the caller
    deletes the state. None when there is nothing to remove (no state)."""
    if state is None:
        return None
    if state.applied.get(coords.source, -1) >= coords.offset:
        return Effect(state, write=False, duplicate=True)
    now = state.clock or coords.timestamp
    windows = windows_of(state, rules, now)
    signals = measure(state, rules, now, windows, rosters)
    personas = persona_counts(list(windows.contacts), rosters.get(state.account_id), rules)
    change = _tier_change(state, 0, REMOVED, now, signals, personas)
    moved = stage_change(state, rules, UNAWARE, REMOVED, now, signals, windows, always=True)
    return Effect(state, write=True, change=change, stage_change=moved, removed=True)


def _prune(state: AccountState, rules: Rules, tick: int = 0) -> None:
    """Drop the days no window can see any more, so state stays bounded per account.

    Each kind ages by its own newest event (so one source running ahead of another, as in
    a backfill, cannot age the other's data), and all of them by a tick, which says what
    time it is.
    """
    # Each loop runs only when a cheap min() says it has something to drop.
    oldest_engagement = window_start(
        max(state.clocks.get(Clock.ENGAGEMENT, 0), tick), rules.retention_days
    )
    windows = cached(state)
    if state.engagement and min(state.engagement) < oldest_engagement:
        for day in [d for d in state.engagement if d < oldest_engagement]:
            bucket = state.engagement.pop(day)
            if windows is not None:
                windows.drop_engagement(day, bucket)
    # Intent days dropped here are in no window at the next evaluation (the windows are
    # recomputed if they were): only a topic gone entirely leaves a trace to remove.
    oldest_intent = window_start(max(state.clocks.get(Clock.INTENT, 0), tick), rules.retention_days)
    for topic, providers in list(state.intent.items()):
        for provider, days in list(providers.items()):
            if days and min(days) >= oldest_intent:
                continue
            for day in [d for d in days if d < oldest_intent]:
                del days[day]
            if not days:
                del providers[provider]
        if not providers:
            del state.intent[topic]
            if windows is not None:
                windows.forget_topic(topic, state)
    if state.campaigns:
        _prune_touches(state, oldest_engagement - rules.attribution.influence_days, rules)


def _prune_touches(state: AccountState, oldest: int, rules: Rules) -> None:
    """Drop campaign days before `oldest` unless one falls in an opportunity's influence
    window: an opportunity keeps the campaigns that influenced it however long its deal
    takes to close."""
    stale = [t for t in state.campaigns.values() if t.days and t.days[0] < oldest]
    if not stale:
        return
    days = rules.attribution.influence_days
    created = [o.first_seen for o in state.opportunities.values()]
    for touch in stale:
        old = touch.days[: bisect_left(touch.days, oldest)]
        kept = [d for d in old if any(in_window(d, at, days) for at in created)]
        touch.days[: len(old)] = kept


def _forget(state: AccountState) -> None:
    """Forget event ids 7 days of their kind after they were applied.

    Only a new day of a kind's newest event makes ids old (an id is remembered with that
    day), so ticks, which move no kind's clock, never need this."""
    if state.seen:
        state.seen.forget({kind: at // DAY_MS - DEDUP_DAYS for kind, at in state.clocks.items()})


def _engagement(state: AccountState, e: EngagementEvent, rules: Rules, at: int) -> str | None:
    """Count the event for its day and campaign; the limit it met, if one kept it from
    its campaign."""
    day = day_of(at)
    bucket = state.engagement.get(day)
    if bucket is None:
        bucket = state.engagement[day] = DayBucket()
    weight = rules.weights.get(e.action, 0.0)
    before_m = milli(bucket.points)
    bucket.points += weight
    bucket.actions[e.action] = bucket.actions.get(e.action, 0) + 1
    bucket.channels[e.channel] = bucket.channels.get(e.channel, 0.0) + weight
    if e.duration_s:
        bucket.time_on_site_s += e.duration_s
    conversions = rules.ad_conversions
    if e.action in conversions.actions and (e.campaign_id or not conversions.campaign_required):
        bucket.ad_conversions += 1
    added = None
    if weight > 0 and _add_contact(bucket.contacts, e.contact_id, rules):
        added = e.contact_id
    windows = cached(state)
    if windows is not None:
        windows.add_engagement(day, milli(bucket.points) - before_m, added)
    first = state.first_touch
    if first is None or (at, e.event_id) < (first[0], first[1]):
        state.first_touch = [at, e.event_id, e.campaign_id or ""]
    if e.campaign_id:
        touch = state.campaigns.get(e.campaign_id)
        if touch is None:
            if len(state.campaigns) >= rules.limits.campaigns:
                return "campaigns"  # counted for the account, not for the campaign
            touch = state.campaigns[e.campaign_id] = CampaignTouch()
        if weight > 0:
            if day not in touch.days:
                insort(touch.days, day)
            _add_contact(touch.contacts, e.contact_id, rules)
    return None


def _add_contact(contacts: list[str], contact: str | None, rules: Rules) -> bool:
    """Count an engaged contact once (at most max_contacts_per_day: a bound on state, not
    a figure); whether it was added."""
    if not contact or contact in contacts or len(contacts) >= rules.max_contacts_per_day:
        return False
    contacts.append(contact)
    return True


def _intent(state: AccountState, e: IntentEvent, at: int, limits: Limits) -> str | None:
    """Keep the event's score; the limit it met, if one made room (or kept it out)."""
    day = day_of(at)
    met = None
    providers = state.intent.get(e.topic)
    if providers is None:
        if len(state.intent) >= limits.intent_topics:
            met = "intent_topics"
            if not _made_room(state.intent, day, lambda by: max(map(max, by.values()))):
                return met
            state.windows = None  # recomputed from what is held when next read
        providers = state.intent[e.topic] = {}
    days = providers.get(e.provider)
    if days is None:
        if len(providers) >= limits.intent_providers:
            met = "intent_providers"
            if not _made_room(providers, day, max):
                return met
            state.windows = None
        days = providers[e.provider] = {}
    days[day] = max(days.get(day, 0.0), e.score)
    windows = cached(state)
    if windows is not None:
        windows.add_intent_event(e.topic, e.provider, day, days[day])
    return met


def _made_room(held: dict[str, Any], day: int, newest: Callable[[Any], int]) -> bool:
    """At a limit: drop the stalest of `held` (whose newest day is oldest; the first
    name among equals) for news of `day`, unless the news is staler still."""
    stalest = min(held, key=lambda name: (newest(held[name]), name))
    if newest(held[stalest]) > day:
        return False
    del held[stalest]
    return True


def _touch(state: AccountState, at: int) -> None:
    day = day_of(at)
    if state.touched is None or day > state.touched:
        state.touched = day


def _deal(state: AccountState, e: DealEvent, rules: Rules, at: int) -> str | None:
    """Apply a stage event; the limit it met, if one made room."""
    if e.stage not in rules.stages:
        raise Rejected(
            DeadLetterReason.UNKNOWN_STAGE, f"stage {e.stage!r} not in configured {rules.stages}"
        )
    amount = _in_base(e, rules.currencies)
    opps = state.opportunities
    opp = opps.get(e.opportunity_id)
    met = None
    if opp is None and len(opps) >= rules.limits.opportunities:
        # The closed one closed earliest leaves (a KPI of long ago loses it), or, when
        # every one is open, the one quiet longest.
        met = "opportunities"
        del opps[min(opps, key=lambda o: (opps[o].closed_at is None, opps[o].history[-1][0], o))]
    recorded = opps[e.opportunity_id] = record(opp, e, at, rules.stages, amount)
    if state.watches:
        note_deal(state, e.opportunity_id, recorded.first_seen, e.stage, amount, at)
    return met


def _in_base(e: DealEvent, currencies: Currencies) -> float:
    """The deal's amount in the base currency (as given when no rates are configured)."""
    if not currencies.rates or e.currency == currencies.base:
        return e.amount
    rate = currencies.rates.get(e.currency)
    if rate is None:
        raise Rejected(
            DeadLetterReason.UNKNOWN_CURRENCY,
            f"currency {e.currency!r} has no rate to {currencies.base} in currencies.rates",
        )
    return e.amount * rate


def _spend(state: AccountState, e: SpendEvent, at: int, limits: Limits) -> str | None:
    """Count the spend for the day and its campaign; the limit it met, if one kept it
    from its campaign."""
    day = day_of(at)
    units = to_units(e.amount)
    state.spend[day] = state.spend.get(day, 0) + units
    if e.account_id is None:  # a campaign's own state is keyed by it already
        return None
    spent = state.campaign_spend.get(e.campaign_id)
    if spent is None and len(state.campaign_spend) >= limits.campaigns:
        return "campaigns"
    state.campaign_spend[e.campaign_id] = (spent or 0) + units
    return None


def _profile(state: AccountState, p: AccountProfile, rules: Rules) -> None:
    state.profile = Profile(
        name=p.name,
        fit=fit_score(p, rules.icp),
        expected_acv=p.expected_acv or 0.0,
        owner=p.owner,
        industry=p.industry,
        domains=domains_of(p.domain, p.domains),
    )


def _check_time(
    state: AccountState, event: TimedEvent, at: int, kind: str, rules: Rules, wall_now: int
) -> None:
    """Future events are refused; so are events older than the retention behind the newest
    of their own kind, except deal stages (lifetime facts, applied idempotently)."""
    if at > wall_now + rules.max_future_minutes * 60_000:
        raise Rejected(DeadLetterReason.FUTURE, f"occurred_at {event.occurred_at} is ahead")
    newest = state.clocks.get(kind, 0)
    if kind != Clock.DEALS and newest and at < newest - rules.retention_days * DAY_MS:
        raise Rejected(
            DeadLetterReason.LATE,
            f"occurred_at {event.occurred_at} is older than the {rules.retention_days}-day "
            f"retention behind {from_ms(newest).isoformat()}, this account's newest "
            f"{type(event).__name__}",
        )


def apply_event(
    state: AccountState | None,
    event: Event,
    coords: Coords,
    rules: Rules,
    wall_now: int,
    rosters: Rosters = NO_ROSTERS,
) -> Effect:
    """Apply one decoded event; raise Rejected for late, future or unknown-stage events.

    Redelivery (an offset at or below the last applied one from the same partition, or an
    event_id seen in the last 7 days) changes nothing and is reported as a duplicate.
    """
    state = state or AccountState(account_id=owner_of(event))
    source = coords.source
    if state.applied.get(source, -1) >= coords.offset:
        return Effect(state, write=False, duplicate=True)

    ownerless: dict[str, int] | None = None
    if isinstance(event, AccountProfile):
        # A profile carries no event time: it re-tiers at the account's own clock and
        # never moves it (its record time may be far ahead of a backfilled history).
        if event.owner and (state.profile is None or not state.profile.owner):
            ownerless = alerted_episodes(state)
        _profile(state, event, rules)
        now = state.clock or coords.timestamp
        met = None
    else:
        kind = _CLOCK[type(event)]
        at = to_ms(event.occurred_at)
        _check_time(state, event, at, kind, rules, wall_now)
        seen_key = f"{kind}:{event.event_id}"
        if state.seen.has(seen_key):
            return Effect(state, write=False, duplicate=True)
        if isinstance(event, EngagementEvent):
            met = _engagement(state, event, rules, at)
            _touch(state, at)
        elif isinstance(event, IntentEvent):
            met = _intent(state, event, at, rules.limits)
            _touch(state, at)
        elif isinstance(event, DealEvent):
            met = _deal(state, event, rules, at)
        elif isinstance(event, SalesActivity):
            met = None
            note_activity(state, event, at)
        else:
            met = _spend(state, event, at, rules.limits)
        state.clock = now = max(state.clock, at)
        newest = state.clocks.get(kind, 0)
        if at > newest:
            state.clocks[kind] = at
        # Remembered from when it was applied, not from its event time: a late event's
        # duplicate is caught for 7 days as well.
        today = day_of(max(at, newest))
        state.seen.add(seen_key, today)
        if today != day_of(newest) or day_of(at) < window_start(
            max(at, newest), rules.retention_days
        ):
            # Only a new day (or a day already out of retention) gives _prune work: it
            # scans every stored day and id, too much to do for each event.
            _prune(state, rules)
            _forget(state)
    state.applied[source] = coords.offset
    state.partition = coords.partition
    effect = evaluate(state, rules, now, rosters)
    effect.limited = met or effect.limited
    if ownerless:
        windows = windows_of(state, rules, now)
        reissued = owned_alerts(state, rules, now, windows, ownerless, rosters)
        watch(state, reissued, now, rules)
        effect.alerts += reissued
    return effect


def apply_tick(
    state: AccountState, rules: Rules, now: int, rosters: Rosters = NO_ROSTERS
) -> Effect:
    """Let time pass: re-tier an account whose windows have dropped data by `now`."""
    if state.due_at is None or now < state.due_at:
        return Effect(state, write=False)
    state.clock = max(state.clock, now)
    _prune(state, rules, tick=state.clock)
    return evaluate(state, rules, state.clock, rosters)


def apply_roster(state: AccountState, rules: Rules, rosters: Rosters) -> Effect:
    """The account's roster changed (it is in `rosters` already): re-tier at the account's
    own clock, as a profile does, so contacts that engaged before are counted as their
    personas now (a roster moves no clock: it says who people are, not when they acted)."""
    return evaluate(state, rules, state.clock, rosters)
