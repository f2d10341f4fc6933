"""Which model each topic carries, and the JSON Schema files published for downstream teams."""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from schemas.common import Output
from schemas.compatibility import problems
from schemas.inputs import (
    AccountProfile,
    ContactRoster,
    DealEvent,
    EngagementEvent,
    IntentEvent,
    SalesActivity,
    SpendEvent,
)
from schemas.outputs import (
    AlertOutcome,
    DeadLetter,
    StageChange,
    SurgeAlert,
    TierChange,
    UnmatchedEvent,
)

__all__ = [
    "JSON_DIR",
    "RELEASED_DIR",
    "TOPIC_MODELS",
    "breaking_changes",
    "export_json_schemas",
    "is_output",
    "json_schema",
    "json_schema_text",
    "release",
]

JSON_DIR = Path(__file__).parent / "json"
RELEASED_DIR = JSON_DIR / "released"
"""The schema of each topic as last released: the current one may only grow from it."""

TOPIC_MODELS: dict[str, type[BaseModel]] = {
    "abm.engagement.v1": EngagementEvent,
    "abm.intent.v1": IntentEvent,
    "abm.deals.v1": DealEvent,
    "abm.accounts.v1": AccountProfile,
    "abm.spend.v1": SpendEvent,
    "abm.contacts.v1": ContactRoster,
    "abm.sales-activities.v1": SalesActivity,
    "abm.tier-changes.v1": TierChange,
    "abm.stage-changes.v1": StageChange,
    "abm.surge-alerts.v1": SurgeAlert,
    "abm.alert-outcomes.v1": AlertOutcome,
    "abm.dead-letter.v1": DeadLetter,
    "abm.unmatched.v1": UnmatchedEvent,
}
"""Keyed by the default topic names: the schema belongs to the contract, not to a deployment."""


def is_output(topic: str) -> bool:
    return issubclass(TOPIC_MODELS[topic], Output)


def json_schema(topic: str) -> dict[str, Any]:
    """The published schema of a topic: inputs as producers must write them, outputs as we
    write them (every field present), which is what each side validates against."""
    mode: JsonSchemaMode = "serialization" if is_output(topic) else "validation"
    schema = TOPIC_MODELS[topic].model_json_schema(mode=mode)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": topic, **schema}


def json_schema_text(topic: str) -> str:
    return json.dumps(json_schema(topic), indent=2, sort_keys=True) + "\n"


def export_json_schemas(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in TOPIC_MODELS:
        path = directory / f"{topic}.schema.json"
        path.write_text(json_schema_text(topic))
        written.append(path)
    return written


def _released_path(topic: str, released: Path) -> Path:
    return released / f"{topic}.schema.json"


def breaking_changes(released: Path = RELEASED_DIR) -> list[str]:
    """Every field of a released topic that its current model changes incompatibly.

    A topic never released (no copy in `released`) has no promise to keep yet.
    """
    found = []
    for topic in TOPIC_MODELS:
        path = _released_path(topic, released)
        if path.is_file():
            old = json.loads(path.read_text())
            found += problems(topic, old, json_schema(topic), is_output(topic))
    return found


def release(released: Path = RELEASED_DIR) -> list[Path]:
    """Record the current schemas as released: from now on they may only grow."""
    if found := breaking_changes(released):
        raise ValueError("; ".join(found))
    released.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in TOPIC_MODELS:
        path = _released_path(topic, released)
        path.write_text(json_schema_text(topic))
        written.append(path)
    return written
