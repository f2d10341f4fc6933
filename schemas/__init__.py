"""Pydantic v2 models of every topic payload: the public contract, free of Faust and Redis."""

from schemas.inputs import (
    AccountProfile,
    Action,
    Channel,
    DealEvent,
    DealType,
    EngagementEvent,
    IntentEvent,
    SpendEvent,
)
from schemas.outputs import (
    DeadLetter,
    DeadLetterReason,
    SurgeAlert,
    TierChange,
    TierInputs,
)

__all__ = [
    "AccountProfile",
    "Action",
    "Channel",
    "DeadLetter",
    "DeadLetterReason",
    "DealEvent",
    "DealType",
    "EngagementEvent",
    "IntentEvent",
    "SpendEvent",
    "SurgeAlert",
    "TierChange",
    "TierInputs",
]
