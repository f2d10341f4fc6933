"""Which model each topic carries, and the JSON Schema files published for downstream teams."""

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.inputs import (
    AccountProfile,
    ContactRoster,
    DealEvent,
    EngagementEvent,
    IntentEvent,
    SpendEvent,
)
from schemas.outputs import DeadLetter, SurgeAlert, TierChange

__all__ = ["JSON_DIR", "TOPIC_MODELS", "export_json_schemas", "json_schema_text"]

JSON_DIR = Path(__file__).parent / "json"

TOPIC_MODELS: dict[str, type[BaseModel]] = {
    "abm.engagement.v1": EngagementEvent,
    "abm.intent.v1": IntentEvent,
    "abm.deals.v1": DealEvent,
    "abm.accounts.v1": AccountProfile,
    "abm.spend.v1": SpendEvent,
    "abm.contacts.v1": ContactRoster,
    "abm.tier-changes.v1": TierChange,
    "abm.surge-alerts.v1": SurgeAlert,
    "abm.dead-letter.v1": DeadLetter,
}
"""Keyed by the default topic names: the schema belongs to the contract, not to a deployment."""


def json_schema_text(topic: str) -> str:
    """The published schema of a topic; inputs are described as producers must write them."""
    model = TOPIC_MODELS[topic]
    schema = model.model_json_schema(mode="validation")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": topic, **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_json_schemas(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in TOPIC_MODELS:
        path = directory / f"{topic}.schema.json"
        path.write_text(json_schema_text(topic))
        written.append(path)
    return written
