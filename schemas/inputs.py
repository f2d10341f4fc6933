"""Input payloads: first-party engagement, third-party intent, CRM deals, profiles, spend,
and the contact rosters of accounts."""

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from schemas.common import Amount, Contract, EventTime, Id, Label, Score

__all__ = [
    "MAX_ROSTER_BYTES",
    "MAX_ROSTER_CONTACTS",
    "AccountProfile",
    "Action",
    "Channel",
    "Contact",
    "ContactRoster",
    "DealEvent",
    "DealType",
    "EngagementEvent",
    "ErasureOutcome",
    "ErasureRequest",
    "IntentEvent",
    "MatchMethod",
    "SalesActivity",
    "SalesActivityType",
    "SpendEvent",
]


class Channel(StrEnum):
    WEB = "web"
    EMAIL = "email"
    ADS = "ads"
    SOCIAL = "social"
    EVENT = "event"
    DIRECT_MAIL = "direct_mail"
    SALES = "sales"


class Action(StrEnum):
    PAGE_VIEW = "page_view"
    EMAIL_DELIVERED = "email_delivered"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    AD_IMPRESSION = "ad_impression"
    AD_CLICK = "ad_click"
    FORM_SUBMIT = "form_submit"
    CONTENT_DOWNLOAD = "content_download"
    SOCIAL_LIKE = "social_like"
    SOCIAL_SHARE = "social_share"
    SOCIAL_COMMENT = "social_comment"
    EVENT_REGISTERED = "event_registered"
    EVENT_ATTENDED = "event_attended"
    DIRECT_MAIL_SENT = "direct_mail_sent"
    DIRECT_MAIL_RESPONSE = "direct_mail_response"
    MEETING = "meeting"


class DealType(StrEnum):
    NEW = "new"
    EXPANSION = "expansion"
    RENEWAL = "renewal"


MatchMethod = Literal["account_id", "contact", "group", "domain"]


class EngagementEvent(Contract):
    """One interaction of a person at the account with us (abm.engagement.v1)."""

    event_id: Id
    account_id: Id
    contact_id: Id | None = None
    channel: Channel
    action: Action
    occurred_at: EventTime
    duration_s: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] | None = None
    campaign_id: Id | None = None
    match_method: MatchMethod | None = Field(
        default=None,
        description="set by account matching on an event it placed: how it found the account "
        "(account_id, contact, group, domain); absent on events that named their account",
    )


class IntentEvent(Contract):
    """A provider's intent score for one account and topic (abm.intent.v1)."""

    event_id: Id
    account_id: Id
    provider: Id
    topic: Label
    score: Score
    occurred_at: EventTime


class DealEvent(Contract):
    """A CRM opportunity entering a stage (abm.deals.v1); stage names come from config."""

    event_id: Id
    account_id: Id
    opportunity_id: Id
    stage: Id
    amount: Amount
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    deal_type: DealType = DealType.NEW
    product_line: Label | None = None
    """What is sold, if the CRM says: an expansion in a product line new to the account is
    a cross-sell, in one it has bought before an upsell."""
    occurred_at: EventTime


class AccountProfile(Contract):
    """The latest known profile of an account (abm.accounts.v1, compacted)."""

    account_id: Id
    name: Label
    domain: Annotated[str, Field(max_length=253)] | None = None
    domains: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list,
        max_length=20,
        description="other domains the company's people and sites use (brands, regions, an "
        "acquired company's): events from these match the account too",
    )
    industry: Label | None = None
    employees: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    annual_revenue: Amount | None = None
    country: Annotated[str, Field(min_length=2, max_length=64)] | None = None
    tech_stack: list[Label] = Field(default_factory=list, max_length=200)
    expected_acv: Amount | None = None
    owner: Label | None = None
    fit_score: Score | None = None


class SpendEvent(Contract):
    """Campaign cost, for ROI (abm.spend.v1)."""

    event_id: Id
    campaign_id: Id
    account_id: Id | None = None
    amount: Amount
    occurred_at: EventTime


class SalesActivityType(StrEnum):
    """What a CRM logs for a rep: Salesforce Tasks and Events, HubSpot engagements."""

    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    SOCIAL = "social"


class SalesActivity(Contract):
    """A rep's follow-up of an account (abm.sales-activities.v1): what tells whether sales
    answered an alert, and how fast. Not the account's engagement: it adds no points."""

    event_id: Id
    account_id: Id
    rep_id: Label = Field(description="the rep, as profiles name owners (`owner`)")
    type: SalesActivityType
    occurred_at: EventTime


MAX_ROSTER_CONTACTS = 500
MAX_ROSTER_BYTES = 512 * 1024
"""A roster is one record for up to 500 contacts: it may be larger than an event."""

Short = Annotated[str, Field(min_length=1, max_length=100)]


class Contact(Contract):
    """One person at the account, as the CRM knows them: what persona rules read. No email
    or name: the engine needs neither, and what it never holds it cannot leak."""

    contact_id: Id
    title: Label | None = None
    department: Short | None = None
    seniority: Short | None = Field(
        default=None, description="e.g. c_level, vp, director, manager, senior, entry"
    )


class ContactRoster(Contract):
    """An account's whole roster (abm.contacts.v1, compacted, keyed by account_id): the
    latest record is the truth, so a contact left out is removed and a tombstone (a null
    value) clears the roster."""

    account_id: Id
    contacts: list[Contact] = Field(max_length=MAX_ROSTER_CONTACTS)
    updated_at: EventTime

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        seen: set[str] = set()
        for contact in self.contacts:
            if contact.contact_id in seen:
                raise ValueError(f"contact_id {contact.contact_id!r} is listed twice")
            seen.add(contact.contact_id)
        return self


class ErasureRequest(Contract):
    """A request to erase an account, or one person of it (GDPR art. 17), sent by `abm
    forget` on the internal erasure topic, keyed by `account_id` so the worker holding the
    account applies it in order with the account's own records."""

    request_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    account_id: Id
    contact_hmac: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None,
        description="HMAC-SHA256 (hex) of the person's contact_id under the erasure key "
        "(ABM_ERASURE_KEY), so the request names them in no form a list of known ids "
        "reverses; absent, with contact_sha256: the whole account",
    )
    contact_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None,
        description="a plain SHA-256 of the contact_id, as requests made before the erasure "
        "key named people; still honoured, never written",
    )
    requested_at: EventTime

    @model_validator(mode="after")
    def _one_name(self) -> Self:
        if self.contact_hmac is not None and self.contact_sha256 is not None:
            raise ValueError("name the person once: contact_hmac or contact_sha256")
        return self

    def person(self) -> str | None:
        """How the request names the person, tagged by the digest's kind ("h:..." for an
        HMAC, "s:..." for a plain SHA-256); None for the whole account."""
        if self.contact_hmac is not None:
            return f"h:{self.contact_hmac}"
        return None if self.contact_sha256 is None else f"s:{self.contact_sha256}"


class ErasureOutcome(Contract):
    """What the worker that applied an erasure request reports, under the request's id in
    Redis, for `abm forget` to wait on. It names no one."""

    state: int = Field(ge=0, description="Places in the account's state that held it")
    roster: int = Field(ge=0, description="1 when the account's roster held it")
    redis: int = Field(ge=0, description="Entries the worker deleted from its Redis view")
    view_process: bool = Field(
        description="`abm view` keeps Redis: it applies the request and confirms on its own"
    )
    done_at: int = Field(ge=0, description="When the worker was done (epoch ms)")
