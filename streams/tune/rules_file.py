"""The tuned rules as an ordinary rules file: what `abm backtest --candidate` and
ABM_CONFIG_FILE read, with comments above each changed key giving its old value and the
evidence for the new one (a line per part), so a reviewer reads the change, not a model.

Only what differs from the defaults is written, except the tables a change touched (the
ICP, the tier table), which are written whole: a reader sees the rule a key belongs to.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import tomlkit
from tomlkit.items import AoT, Table

from streams.logic.rules import Rules

__all__ = ["rules_toml"]

WHOLE = ("icp", "tiers")
"""Tables written whole when any of their keys is set."""


def _shown(value: Any) -> str:
    return orjson.dumps(value).decode()


def _clean(value: Any) -> Any:
    """TOML has no null: a None is left out (and reads back as its default)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not None]
    return value


def _rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(values: Mapping[str, Any], path: str, notes: Mapping[str, list[str]]) -> Table:
    """A TOML table, keys before sub-tables (as TOML needs), a note above each noted key;
    rows of a list are told apart in paths by their `name` where they have one."""
    table = tomlkit.table()
    for key, value in values.items():
        if not isinstance(value, dict) and not _rows(value):
            for line in notes.get(path + key, ()):
                table.add(tomlkit.comment(line))
            table.add(key, value)
    for key, value in values.items():
        if isinstance(value, dict):
            table.add(key, _table(value, f"{path}{key}.", notes))
    for key, value in values.items():
        if _rows(value):
            rows = AoT([])
            for row in value:
                rows.append(_table(row, f"{path}{key}.{row.get('name', '')}.", notes))
            table.add(key, rows)
    return table


def rules_toml(rules: Rules, changes: Sequence[Mapping[str, Any]], header: Sequence[str]) -> str:
    """`rules` as a rules file's `[rules]`; `changes`: the changed keys (dotted paths,
    tier rules by name) with `was` and `evidence`; `header`: comment lines on top."""
    full = _clean(rules.model_dump(mode="json"))
    written = _clean(rules.model_dump(mode="json", exclude_defaults=True))
    for change in changes:
        top = change["key"].split(".")[0]
        written[top] = full[top]
    for top in WHOLE:
        if top in written:
            written[top] = full[top]
    notes = {
        change["key"]: [f"was {_shown(change['was'])}", *change["evidence"].split("; ")]
        for change in changes
    }
    document = tomlkit.document()
    for line in header:
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    document.add("rules", _table(written, "", notes))
    return tomlkit.dumps(document)
