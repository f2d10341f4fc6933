"""Output payloads: tier changes for downstream systems and dead letters for operators."""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from schemas.common import Contract, EventTime, Id, Label

__all__ = ["DeadLetter", "DeadLetterReason", "TierChange", "TierInputs"]

Tier = Annotated[int, Field(ge=0, le=3, description="1-3, or 0 for untiered")]


class TierInputs(Contract):
    """The figures that decided a tier, so a consumer can see why without asking us."""

    fit: float | None
    acv: float
    intent_max: float = Field(description="highest intent score in the intent window")
    intent_topics: list[str] = Field(description="topics at or above the intent threshold")
    engagement_points: float
    engaged_contacts: int
    recent_intent: bool
    recent_engagement: bool


class TierChange(Contract):
    """One change of an account's tier (abm.tier-changes.v1).

    `version` grows by one per change of this account: a consumer keeps the highest it has
    seen and drops anything at or below it, which makes redelivery harmless.
    """

    account_id: Id
    previous_tier: Tier
    tier: Tier
    rule: Label
    inputs: TierInputs
    changed_at: EventTime
    version: Annotated[int, Field(ge=1)]


class DeadLetterReason(StrEnum):
    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    INVALID_PAYLOAD = "invalid_payload"
    KEY_MISMATCH = "key_mismatch"
    LATE = "late"
    FUTURE = "future"
    UNKNOWN_STAGE = "unknown_stage"
    PROCESSING_ERROR = "processing_error"


class DeadLetter(Contract):
    """An input that could not be accepted, with everything needed to fix and resend it."""

    source_topic: str
    partition: int
    offset: int
    key: str | None
    value: str
    encoding: Literal["utf-8", "base64"]
    reason: DeadLetterReason
    error: Annotated[str, Field(max_length=2000)]
    failed_at: EventTime
