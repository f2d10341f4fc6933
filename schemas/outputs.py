"""Output payloads: tier changes for downstream systems and dead letters for operators."""

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from schemas.common import EventTime, Id, Label, Output

__all__ = [
    "PERSONAS",
    "AlertOutcome",
    "ChannelPoints",
    "CommitteeMember",
    "DeadLetter",
    "DeadLetterReason",
    "StageChange",
    "StageInputs",
    "SurgeAlert",
    "SurgeTopic",
    "TierChange",
    "TierInputs",
    "UnmatchedEvent",
]

Tier = Annotated[int, Field(ge=0, le=3, description="1-3, or 0 for untiered")]
Persona = Literal["decision_maker", "champion", "influencer", "user", "unknown"]
PERSONAS: tuple[str, ...] = ("decision_maker", "champion", "influencer", "user", "unknown")
"""Most senior first: the order alerts list the buying committee in."""


class TierInputs(Output):
    """The figures that decided a tier, so a consumer can see why without asking us."""

    fit: float | None
    acv: float
    intent_max: float = Field(description="highest intent score in the intent window")
    intent_topics: list[str] = Field(description="topics at or above the intent threshold")
    engagement_points: float
    engaged_contacts: int
    recent_intent: bool
    recent_engagement: bool
    personas: dict[Persona, int] = Field(
        default={},
        description="engaged contacts in the engagement window per persona (unknown: not "
        "on the account's roster, or matched by no persona rule)",
    )


class TierChange(Output):
    """One change of an account's tier (abm.tier-changes.v1).

    `version` grows by one per change of this account: a consumer keeps the highest it has
    seen and drops anything at or below it, which makes redelivery harmless.
    """

    account_id: Id
    account_name: str | None = Field(
        default=None, description="from the account's profile; null before one arrived"
    )
    owner: str | None = Field(
        default=None, description="the account owner from its profile, to route on"
    )
    previous_tier: Tier
    tier: Tier
    rule: Label
    inputs: TierInputs
    changed_at: EventTime
    version: Annotated[int, Field(ge=1)]


class StageInputs(Output):
    """The figures the journey rules read when the stage changed."""

    won_deal: bool = Field(description="a won deal, and no renewal lost since the last win")
    open_opportunities: int
    recent_intent: bool
    engagement_points: float = Field(description="engagement points in the journey window")
    engaged_contacts: int = Field(description="distinct engaged contacts in the journey window")
    last_touch: date | None = Field(
        strict=False, description="the UTC day of the newest engagement or intent"
    )
    window_days: int = Field(description="the journey window (engaged, points, contacts)")
    touch_days: int = Field(description="the touch window (aware)")


class StageChange(Output):
    """One change of an account's journey stage (abm.stage-changes.v1).

    `version` grows by one per stage change of this account, as on tier changes: keep the
    highest seen, drop anything at or below it.
    """

    account_id: Id
    account_name: str | None = Field(description="from the account's profile")
    owner: str | None = Field(description="the account owner from its profile, to route on")
    previous_stage: Label
    stage: Label = Field(description="unaware, aware, engaged, mqa, opportunity, customer")
    rule: Label = Field(description="the journey rule that matched (its stage), or removed")
    inputs: StageInputs
    changed_at: EventTime
    version: Annotated[int, Field(ge=1)]


class SurgeTopic(Output):
    topic: str
    score: float = Field(description="highest score this week")
    baseline: float = Field(description="mean of the weekly highest scores before")
    ratio: float | None = Field(description="score / baseline; null when the baseline is 0")
    provider: str | None = Field(
        default=None, description="the provider whose score (weighted) is this week's highest"
    )
    seen_on: date | None = Field(
        default=None,
        strict=False,  # an ISO date string, as JSON carries it, also from a parsed dict
        description="the UTC day of that score",
    )


class CommitteeMember(Output):
    """An engaged contact as sales sees them: persona and title, never an email."""

    contact_id: str | None = Field(
        description="the CRM's contact id; null when the id is an email address"
    )
    persona: Persona
    title: str | None
    seniority: str | None


class ChannelPoints(Output):
    channel: str
    points: float


class SurgeAlert(Output):
    """An account entering a surge (abm.surge-alerts.v1), with the evidence for sales.

    `alert_id` is derived from the account, the kind and the event time the surge began,
    so a redelivered or replayed alert has the same id and a consumer can drop it.
    """

    alert_id: str
    account_id: Id
    account_name: str | None
    owner: str | None
    kind: Literal["intent", "engagement"]
    cluster: str | None = Field(
        default=None,
        description="intent: the topic cluster that surged (null: topics in no cluster, or "
        "no catalogue)",
    )
    score: float = Field(description="intent: top topic's score; engagement: points in 7 days")
    baseline: float = Field(description="the same measure's weekly mean over the baseline weeks")
    ratio: float | None
    window: str = Field(description="what was compared, e.g. '7d vs 4w mean'")
    topics: list[SurgeTopic] = Field(description="intent topics above the exit threshold")
    tier: Tier
    engaged_contacts: int = Field(description="distinct engaged contacts in the last 7 days")
    contacts: list[str] = Field(description="up to 10 of their ids; email addresses left out")
    committee: list[CommitteeMember] = Field(
        default=[],
        description="up to 10 engaged contacts of the last 7 days, most senior persona first",
    )
    top_channels: list[ChannelPoints] = Field(description="engagement points by channel, 7 days")
    detected_at: EventTime
    reissue_of: str | None = Field(
        default=None,
        description="set when the surge's alert named no owner (the account's profile came "
        "after it) and the owner is now known: that alert's alert_id. Routes that heard "
        "it do not hear this one; owner routes do",
    )
    holdout: bool = Field(
        default=False,
        description="in the holdout ([rules.outcomes] holdout): recorded here and measured, "
        "but sent to no route and shown to no seller",
    )


class AlertOutcome(Output):
    """What followed one surge alert (abm.alert-outcomes.v1, keyed by account), published
    once its `opportunity_days` have passed on the account's clock: did sales respond, how
    fast, and did an opportunity follow. Nulls where nothing happened."""

    alert_id: str
    account_id: Id
    account_name: str | None
    owner: str | None = Field(description="the account's owner when the alert was raised")
    kind: Literal["intent", "engagement"]
    cluster: str | None
    tier: Tier = Field(description="the account's tier when the alert was raised")
    raised_at: EventTime
    holdout: bool = Field(description="held out: no seller was told of this alert")
    first_response_at: EventTime | None = Field(
        description="the first sales activity after the alert, within opportunity_days"
    )
    response_minutes: float | None
    responded_by: str | None = Field(description="the rep who responded first")
    responded_by_owner: bool | None = Field(
        description="whether that rep was the account's owner (null: no response, or no owner)"
    )
    sla_met: bool = Field(description="a response within response_sla_minutes")
    opportunity_id: str | None = Field(
        description="the first opportunity created after the alert, within opportunity_days"
    )
    opportunity_created_at: EventTime | None
    opportunity_amount: float | None = Field(
        description="its amount (base currency) at the horizon"
    )
    opportunity_won: bool | None = Field(
        description="true or false if it closed won or lost within the horizon, else null"
    )
    horizon_at: EventTime = Field(description="raised_at plus opportunity_days")


class UnmatchedEvent(Output):
    """An engagement event that matched no account (abm.unmatched.v1, keyed by its domain,
    or by the person when it carried none): what `abm unmatched` counts. It names no one:
    the domain, never an address, and the person only as a hash to count them by."""

    event_id: str
    reason: Literal["free_mail", "unknown_domain", "no_identity"] = Field(
        description="free_mail: only a free-mail domain (gmail.com, ...); unknown_domain: a "
        "business domain no account claims; no_identity: nothing yet to match by (the "
        "person may identify themselves later, and the event is then matched)"
    )
    domain: str | None = Field(description="the business domain it carried, if any")
    person: str = Field(description="SHA-256 (hex, first 16) of the person's id")
    channel: str
    action: str
    occurred_at: EventTime
    campaign_id: str | None = None


class DeadLetterReason(StrEnum):
    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    INVALID_PAYLOAD = "invalid_payload"
    KEY_MISMATCH = "key_mismatch"
    LATE = "late"
    FUTURE = "future"
    UNKNOWN_STAGE = "unknown_stage"
    UNKNOWN_CURRENCY = "unknown_currency"
    PROCESSING_ERROR = "processing_error"
    WEBHOOK_FAILED = "webhook_failed"
    WEBHOOK_OVERFLOW = "webhook_overflow"


class DeadLetter(Output):
    """An input that could not be accepted, with everything needed to fix and resend it."""

    source_topic: str
    partition: int | None = Field(description="null for records we produced (e.g. alerts)")
    offset: int | None
    key: str | None = Field(
        description="the record key as text (base64 if not UTF-8); its first 1 KiB at most"
    )
    value: str = Field(
        description="the raw value as text (base64 if not UTF-8); its first 128 KiB at most"
    )
    encoding: Literal["utf-8", "base64"]
    value_bytes: int | None = Field(
        default=None,
        ge=0,
        description="the whole value's length in bytes (absent in records written before)",
    )
    value_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the whole value, to check a copy fetched from its "
        "offset (absent in records written before)",
    )
    truncated: bool = Field(
        default=False,
        description="`key` or `value` holds only a prefix: the record was larger than a "
        "dead letter keeps",
    )
    reason: DeadLetterReason
    error: Annotated[str, Field(max_length=2000)]
    failed_at: EventTime
    route: str | None = Field(
        default=None, description="for an alert a route could not deliver: the route's name"
    )
