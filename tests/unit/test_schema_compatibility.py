"""Schema evolution: every kind of change to a released topic, judged from both sides.

Mutations are applied to the real published schemas (every field of every topic, drawn by
hypothesis): inputs must keep accepting what producers wrote, outputs must keep passing
what consumers validate.
"""

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.compatibility import problems
from schemas.registry import JSON_DIR, TOPIC_MODELS, is_output, json_schema
from streams.cli import cli

Schema = dict[str, Any]
Site = tuple[str, tuple[str, ...], str]
"""A field: its topic, the path to the object holding it in the document, its name."""


def _sites() -> list[Site]:
    found = []
    for topic in TOPIC_MODELS:
        schema = json_schema(topic)
        holders = [((), schema)] + [(("$defs", d), n) for d, n in schema.get("$defs", {}).items()]
        for where, node in holders:
            found += [(topic, where, name) for name in node.get("properties", {})]
    return found


SITES = _sites()
sites = st.sampled_from(SITES)


def _mutated(site: Site, change: Callable[[Schema, str], None]) -> tuple[Schema, Schema]:
    topic, where, name = site
    before = json_schema(topic)
    after = copy.deepcopy(before)
    holder = after
    for step in where:
        holder = holder[step]
    change(holder, name)
    return before, after


def _judge(site: Site, before: Schema, after: Schema) -> list[str]:
    """The problems of shipping `after` where `before` was released."""
    return problems(site[0], before, after, is_output(site[0]))


def _names_field(found: list[str], site: Site) -> bool:
    topic, _, name = site
    return any(
        line.startswith(f"{topic}: ") and name in line.split(": ")[1].split(".") for line in found
    )


def _remove(holder: Schema, name: str) -> None:
    del holder["properties"][name]
    if name in holder.get("required", []):
        holder["required"].remove(name)


def _retype(holder: Schema, name: str) -> None:
    """A type the field never had (a nullable boolean's new type must not be its own
    boolean: that only narrows it)."""
    node = holder["properties"][name]
    had = {node.get("type")} | {option.get("type") for option in node.get("anyOf", [])}
    holder["properties"][name] = {
        "type": next(t for t in ("boolean", "string", "array") if t not in had)
    }


def _add(required: bool) -> Callable[[Schema, str], None]:
    def change(holder: Schema, name: str) -> None:
        holder["properties"]["added_later"] = {"type": "string"}
        if required:
            holder.setdefault("required", []).append("added_later")

    return change


def test_the_current_schemas_are_compatible_with_themselves():
    for topic in TOPIC_MODELS:
        schema = json_schema(topic)
        assert problems(topic, schema, copy.deepcopy(schema), is_output(topic)) == []


def test_every_topic_has_fields_to_mutate():
    assert {topic for topic, _, _ in SITES} == set(TOPIC_MODELS)


@settings(max_examples=150)
@given(sites)
def test_a_removed_field_breaks_both_sides(site):
    found = _judge(site, *_mutated(site, _remove))
    assert _names_field(found, site), found


@settings(max_examples=150)
@given(sites)
def test_a_changed_type_breaks_both_sides(site):
    found = _judge(site, *_mutated(site, _retype))
    assert _names_field(found, site), found


@settings(max_examples=100)
@given(sites)
def test_a_new_required_field_breaks_inputs_only(site):
    found = _judge(site, *_mutated(site, _add(required=True)))
    if is_output(site[0]):
        assert found == []
    else:
        assert any("added_later: newly required" in line for line in found), found


@settings(max_examples=100)
@given(sites)
def test_a_new_optional_field_breaks_nothing(site):
    assert _judge(site, *_mutated(site, _add(required=False))) == []


def _optional(holder: Schema, name: str) -> None:
    if name in holder.get("required", []):
        holder["required"].remove(name)


def _required(holder: Schema, name: str) -> None:
    if name not in holder.get("required", []):
        holder.setdefault("required", []).append(name)


@settings(max_examples=150)
@given(sites)
def test_required_to_optional_breaks_outputs_and_back_breaks_inputs(site):
    before, after = _mutated(site, _optional)
    if before == after:  # already optional: the reverse is the change to judge
        before, after = _mutated(site, _required)
        found = _judge(site, before, after)
        assert (found == []) == is_output(site[0]), found
        return
    found = _judge(site, before, after)
    assert (found != []) == is_output(site[0]), found
    if found:
        assert _names_field(found, site)


def _nullable_sites() -> list[Site]:
    found = []
    for site in SITES:
        topic, where, name = site
        holder = json_schema(topic)
        for step in where:
            holder = holder[step]
        if {"type": "null"} in holder["properties"][name].get("anyOf", []):
            found.append(site)
    return found


def _drop_null(holder: Schema, name: str) -> None:
    node = holder["properties"][name]
    node["anyOf"] = [b for b in node["anyOf"] if b != {"type": "null"}]


@pytest.mark.parametrize("site", _nullable_sites(), ids=lambda s: f"{s[0]}:{s[2]}")
def test_dropping_null_narrows_an_input_and_adding_it_widens_an_output(site):
    before, after = _mutated(site, _drop_null)
    narrowed = _judge(site, before, after)
    widened = _judge(site, after, before)
    if is_output(site[0]):
        harmless, breaking = narrowed, widened
    else:
        harmless, breaking = widened, narrowed
    assert harmless == []
    assert _names_field(breaking, site), breaking


@settings(max_examples=60)
@given(st.sampled_from(sorted(TOPIC_MODELS)), st.integers(0, 10_000))
def test_enum_values_added_break_outputs_and_removed_break_inputs(topic, pick):
    schema = json_schema(topic)
    enums = [
        name for name, node in schema.get("$defs", {}).items() if len(node.get("enum", [])) > 1
    ]
    if not enums:
        return
    name = enums[pick % len(enums)]
    fewer = copy.deepcopy(schema)
    fewer["$defs"][name]["enum"] = fewer["$defs"][name]["enum"][1:]
    dropped = schema["$defs"][name]["enum"][0]
    removed = problems(topic, schema, fewer, is_output(topic))
    added = problems(topic, fewer, schema, is_output(topic))
    broken, fine = (added, removed) if is_output(topic) else (removed, added)
    assert fine == []
    assert broken
    assert all(repr(dropped) in line for line in broken), broken


@pytest.mark.parametrize("topic", [t for t in TOPIC_MODELS if is_output(t)])
def test_an_output_that_refuses_new_fields_is_named(topic):
    schema = json_schema(topic)
    closed = {**copy.deepcopy(schema), "additionalProperties": False}
    assert f"{topic}: (the record): refuses fields a later version may add" in problems(
        topic, schema, closed, True
    )


def test_inputs_stay_closed_and_outputs_open():
    for topic in TOPIC_MODELS:
        closed = json_schema(topic).get("additionalProperties") is False
        assert closed != is_output(topic), topic


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    shutil.copytree(JSON_DIR, tmp_path / "json")
    return tmp_path / "json"


def test_check_names_topic_and_field_and_the_way_out(schema_copy: Path):
    released = schema_copy / "released" / "abm.engagement.v1.schema.json"
    schema = orjson.loads(released.read_bytes())
    schema["properties"]["referrer"] = {"type": "string"}  # released with a field since dropped
    released.write_bytes(orjson.dumps(schema))
    result = CliRunner().invoke(cli, ["schemas", "--check", "--out", str(schema_copy)])
    assert result.exit_code == 1
    assert "abm.engagement.v1: referrer: removed" in result.output
    assert "abm.tier-changes.v2" in result.output


def test_check_passes_on_the_committed_files_and_release_refuses_a_break(schema_copy: Path):
    result = CliRunner().invoke(cli, ["schemas", "--check", "--out", str(schema_copy)])
    assert result.exit_code == 0, result.output
    released = schema_copy / "released" / "abm.tier-changes.v1.schema.json"
    schema = orjson.loads(released.read_bytes())
    schema["properties"]["region"] = {"type": "string"}
    schema["required"].append("region")
    released.write_bytes(orjson.dumps(schema))
    result = CliRunner().invoke(cli, ["schemas", "--release", "--out", str(schema_copy)])
    assert result.exit_code == 1
    assert "abm.tier-changes.v1: region: removed" in result.output
    assert orjson.loads(released.read_bytes()) == schema  # nothing overwritten
