"""The one state record kept per account, and its compact JSON form for the changelog.

One record per account (not one table per signal) means one changelog write per event:
the table write, not the arithmetic, is what costs in a Faust agent.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from operator import itemgetter
from typing import Any

import orjson

from schemas.outputs import AlertOutcome, StageChange, SurgeAlert, TierChange
from streams.logic.state.cache import Derived
from streams.logic.state.seen import SeenIds

__all__ = [
    "ALERT_OUTCOME",
    "STAGE_CHANGE",
    "SURGE_ALERT",
    "TIER_CHANGE",
    "AccountState",
    "AlertWatch",
    "CampaignTouch",
    "Clock",
    "DayBucket",
    "Opportunity",
    "OutboxEntry",
    "Profile",
    "SurgeEpisode",
    "entry_id_of",
]

TIER_CHANGE, STAGE_CHANGE, SURGE_ALERT = "tier_change", "stage_change", "surge_alert"
ALERT_OUTCOME = "alert_outcome"
"""The kinds of output an outbox entry holds."""


class Clock(StrEnum):
    """A source of event time, as the state record names it: the key of its newest event
    time in `clocks`, and the prefix of its remembered ids in `seen` (event ids are unique
    per source system, not across them). One letter each: the record stays compact."""

    ENGAGEMENT = "e"
    INTENT = "i"
    DEALS = "d"
    SPEND = "s"
    ACTIVITY = "a"
    """Sales activity: a rep's calls, emails and meetings."""


def entry_id_of(output: TierChange | StageChange | SurgeAlert | AlertOutcome) -> str:
    """The id an output has in an outbox, and by which its deliveries are remembered."""
    if isinstance(output, SurgeAlert):
        return f"a:{output.alert_id}"
    if isinstance(output, AlertOutcome):
        return f"o:{output.alert_id}"
    prefix = "c" if isinstance(output, TierChange) else "s"
    return f"{prefix}:{output.account_id}:{output.version}"


class OutboxEntry:
    """One output waiting in an account's outbox until it is delivered: to its topic (the
    broker acknowledged it) and to each route in `routes` (posted, or dead-lettered).

    `entry_id` names the output (deliveries are remembered by it), `kind` is TIER_CHANGE,
    STAGE_CHANGE, SURGE_ALERT or ALERT_OUTCOME, and `value` the output's JSON (an erasure
    may rewrite an alert's). Stored as the array [entry_id, kind, value], with the routes
    still owed as a fourth item when there are any."""

    __slots__ = ("entry_id", "kind", "routes", "value")

    def __init__(
        self, entry_id: str, kind: str, value: str, routes: list[str] | None = None
    ) -> None:
        self.entry_id = entry_id
        self.kind = kind
        self.value = value
        self.routes: list[str] = [] if routes is None else routes

    @classmethod
    def of_change(cls, change: TierChange) -> "OutboxEntry":
        return cls(entry_id_of(change), TIER_CHANGE, change.model_dump_json())

    @classmethod
    def of_stage_change(cls, moved: StageChange) -> "OutboxEntry":
        return cls(entry_id_of(moved), STAGE_CHANGE, moved.model_dump_json())

    @classmethod
    def of_alert(cls, alert: SurgeAlert) -> "OutboxEntry":
        return cls(entry_id_of(alert), SURGE_ALERT, alert.model_dump_json())

    @classmethod
    def of_outcome(cls, outcome: AlertOutcome) -> "OutboxEntry":
        return cls(entry_id_of(outcome), ALERT_OUTCOME, outcome.model_dump_json())

    def stored(self) -> list[Any]:
        head: list[Any] = [self.entry_id, self.kind, self.value]
        return [*head, self.routes] if self.routes else head

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutboxEntry) and self.stored() == other.stored()

    def __repr__(self) -> str:
        return f"OutboxEntry({self.entry_id!r}, {self.kind!r}, {self.value!r}, {self.routes!r})"


def _transient(value: object) -> object:
    """orjson's fallback: a state's remembered ids and outbox entries in their stored
    form, and its derived cache as null."""
    if isinstance(value, SeenIds | OutboxEntry):
        return value.stored()
    if not isinstance(value, Derived):
        raise TypeError(f"{type(value).__name__} is not part of an account's stored state")
    return None


def _intent_of(stored: dict[str, Any]) -> dict[str, dict[int, float]]:
    """One topic's scores by provider; a record stored before providers were kept maps
    days to scores directly, read as from an unnamed provider."""
    if stored and not isinstance(next(iter(stored.values())), dict):
        return {UNNAMED_PROVIDER: {int(d): s for d, s in stored.items()}}
    return {p: {int(d): s for d, s in days.items()} for p, days in stored.items()}


UNKNOWN_TOUCH = [-1, "", ""]
"""The first touch of an account that engaged before first touches were kept."""
UNNAMED_PROVIDER = ""
"""The provider of intent stored before providers were kept (it weighs 1.0)."""


def _at(index: int) -> Any:
    """A DayBucket field: one position of its list (read by a C getter: buckets are read
    for every window the rules compute)."""

    def put(bucket: list[Any], value: Any) -> None:
        bucket[index] = value

    return property(itemgetter(index), put)


class DayBucket(list[Any]):
    """Engagement of one account on one UTC day.

    A list, which orjson writes natively as a JSON array ([points, contacts, actions,
    channels, time_on_site_s, ad_conversions]): a record keeps a bucket per day of
    retention, and field names were half of each bucket's bytes."""

    __slots__ = ()

    points: float = _at(0)
    contacts: list[str] = _at(1)
    actions: dict[str, int] = _at(2)
    channels: dict[str, float] = _at(3)
    """Points by channel."""
    time_on_site_s: float = _at(4)
    ad_conversions: int = _at(5)
    """Actions that count as a conversion of paid media (rules.ad_conversions)."""

    def __init__(
        self,
        points: float = 0.0,
        contacts: list[str] | None = None,
        actions: dict[str, int] | None = None,
        channels: dict[str, float] | None = None,
        time_on_site_s: float = 0.0,
        ad_conversions: int = 0,
    ) -> None:
        super().__init__(
            (
                points,
                [] if contacts is None else contacts,
                {} if actions is None else actions,
                {} if channels is None else channels,
                time_on_site_s,
                ad_conversions,
            )
        )

    @classmethod
    def load(cls, stored: list[Any] | dict[str, Any]) -> "DayBucket":
        """A stored bucket: an array, or an object as records before the array stored it."""
        return cls(**stored) if isinstance(stored, dict) else cls(*stored)


@dataclass(slots=True)
class Opportunity:
    """Derived from `history` (see opportunities.py); the other fields are its summary."""

    stage: str
    amount: float
    """In the base currency (config `currencies`), converted as its event was applied."""
    deal_type: str
    currency: str
    """The deal's own currency, as its event gave it."""
    first_seen: int
    closed_at: int | None = None
    product_line: str | None = None
    history: list[list[Any]] = field(default_factory=list)
    """[occurred_at ms, stage, amount (base currency), deal_type, currency, product line
    or ''] per stage event, sorted (records stored before product lines have five)."""


@dataclass(slots=True)
class CampaignTouch:
    """What one campaign did with one account: for attribution (kpis.py)."""

    days: list[int] = field(default_factory=list)
    """Days the account engaged with it (actions worth points), ascending; kept
    attribution.influence_days + retention_days behind the newest engagement, and longer
    where they fall in an opportunity's influence window."""
    contacts: list[str] = field(default_factory=list)
    """Contacts who engaged with it (at most max_contacts_per_day)."""


@dataclass(slots=True)
class Profile:
    name: str
    fit: float | None
    expected_acv: float
    owner: str | None = None
    industry: str | None = None
    domains: tuple[str, ...] = ()
    """The registrable domains it claims (its `domain` and aliases), for account matching."""


@dataclass(slots=True)
class SurgeEpisode:
    """Where one kind of surge stands for an account: in or out, and when it last alerted."""

    active: bool = False
    entered_at: int | None = None
    last_alert_at: int | None = None


@dataclass(slots=True)
class AlertWatch:
    """One surge alert, watched until its horizon for what followed it
    (signals/outcomes.py); kept after that as what the alert KPIs count."""

    alert_id: str
    raised_at: int
    kind: str
    cluster: str | None
    tier: int
    holdout: bool
    owner: str | None
    """The account's owner when the alert was raised (or when a reissue named one)."""
    horizon: int
    """raised_at plus opportunity_days (epoch ms): what follows by then counts."""
    closed: bool = False
    """The horizon has passed on the account's clock and the outcome was published."""
    response: list[Any] | None = None
    """[epoch ms, rep_id, whether the rep is `owner` (null without one)] of the first
    sales activity after the alert."""
    opportunity: list[Any] | None = None
    """[opportunity_id, created ms, amount, won (true, false or null while open), ms of
    the stage event that said so] of the first opportunity created after the alert."""


@dataclass(slots=True)
class AccountState:
    """Everything the rules need about one account, keyed by event-time day where it ages.

    `clock` is the newest time (epoch ms) this account has been evaluated at; it only
    moves forward, so an old event never makes a stale account look fresh again.
    `applied` holds the last applied offset per source topic-partition and `seen` the
    recent event ids (seen.py): together they make redelivery a no-op.
    """

    account_id: str
    profile: Profile | None = None
    engagement: dict[int, DayBucket] = field(default_factory=dict)
    intent: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    """topic -> provider -> day -> the provider's highest raw score for the topic that day.
    Raw: weights and the topic catalogue apply when the windows are read, so a replay can
    try another catalogue on the same state."""
    opportunities: dict[str, Opportunity] = field(default_factory=dict)
    surges: dict[str, SurgeEpisode] = field(default_factory=dict)
    spend: dict[int, int] = field(default_factory=dict)
    """Campaign spend attributed to this account: day -> millionths of the currency unit."""
    campaign_spend: dict[str, int] = field(default_factory=dict)
    """The same spend by campaign (millionths), for each campaign's ROI."""
    campaigns: dict[str, CampaignTouch] = field(default_factory=dict)
    first_touch: list[Any] | None = None
    """[epoch ms, event_id, campaign_id or ''] of the account's earliest engagement (the
    smallest event id among equal times): the campaign that sourced its first deal."""
    tier: int = 0
    rule: str = "untiered"
    version: int = 0
    stage: str = "unaware"
    """The journey stage (journey.py); `stage_version` counts its changes like `version`."""
    stage_version: int = 0
    reached: dict[str, int] = field(default_factory=dict)
    """Journey stage -> when (epoch ms) the account first stood at it or beyond."""
    touched: int | None = None
    """The newest day of any engagement or intent: kept past the retention, for `aware`."""
    clock: int = 0
    clocks: dict[str, int] = field(default_factory=dict)
    """Newest event time per `Clock` (by its letter): lateness and ageing are per source."""
    due_at: int | None = None
    partition: int | None = None
    applied: dict[str, int] = field(default_factory=dict)
    seen: SeenIds = field(default_factory=SeenIds)
    watches: list[AlertWatch] = field(default_factory=list)
    """The account's surge alerts and what followed each, oldest first (bounded by
    rules.limits.alert_outcomes)."""
    outbox: list[OutboxEntry] = field(default_factory=list)
    """Outputs not yet known to be delivered: written with the state that produced them,
    re-sent after a crash (see agents/emit)."""
    windows: Derived | None = field(default=None, compare=False, repr=False)
    """The windows the rules read, kept up as events land (aggregates.py); stored as
    null."""

    def name_and_owner(self) -> tuple[str | None, str | None]:
        """What every output carries so a consumer can route it without a lookup."""
        profile = self.profile
        return (profile.name, profile.owner) if profile else (None, None)

    def to_json(self) -> bytes:
        return orjson.dumps(self, default=_transient, option=orjson.OPT_NON_STR_KEYS)

    @classmethod
    def from_json(cls, raw: bytes) -> "AccountState":
        data: dict[str, Any] = orjson.loads(raw)
        data.pop("windows", None)
        if profile := data.get("profile"):
            data["profile"] = Profile(**{**profile, "domains": tuple(profile.get("domains", ()))})
        else:
            data["profile"] = None
        data["engagement"] = {int(d): DayBucket.load(b) for d, b in data["engagement"].items()}
        data["intent"] = {t: _intent_of(by) for t, by in data["intent"].items()}
        data["seen"] = SeenIds.load(data.get("seen", {}))
        data["outbox"] = [OutboxEntry(*entry) for entry in data.get("outbox", ())]
        data["watches"] = [AlertWatch(**watch) for watch in data.get("watches", ())]
        data["surges"] = {k: SurgeEpisode(**v) for k, v in data["surges"].items()}
        data["spend"] = {int(d): units for d, units in data["spend"].items()}
        data["opportunities"] = {o: Opportunity(**v) for o, v in data["opportunities"].items()}
        data["campaigns"] = {
            c: CampaignTouch(v["days"], v["contacts"]) for c, v in data.get("campaigns", {}).items()
        }
        if "first_touch" not in data and (data["engagement"] or data.get("touched") is not None):
            # Stored before first touches were kept: the first is unknown, and credits no one.
            data["first_touch"] = list(UNKNOWN_TOUCH)
        return cls(**data)
