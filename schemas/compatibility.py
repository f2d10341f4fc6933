"""Whether a topic's current JSON Schema may replace its released one under the same name.

A released topic is a promise to two sides. Producers of an input wrote records that the
released schema accepted; every such record must still be accepted, so the current schema
must admit *at least* what the released one did. Consumers of an output wrote code against
the released schema; every record we write now must still pass it, so the current schema
must admit *at most* what the released one did (new fields are fine: outputs are open).
Both are one question, "does schema W admit every value schema N admits?", asked with the
two schemas in opposite roles.

The answer is structural and conservative: it understands what pydantic emits (objects,
`$ref`/`$defs`, `anyOf`, types, enums, bounds, patterns, arrays, maps). Where it cannot
prove admission (two different patterns, say) it reports a break; a false alarm costs a
look, a missed break costs every consumer.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Break", "Kind", "breaks", "closed_objects", "describe", "problems"]

Schema = Mapping[str, Any]

_NUMBERS = {"integer", "number"}
_LOWER = (("minimum", False), ("exclusiveMinimum", True))
_UPPER = (("maximum", False), ("exclusiveMaximum", True))
_AT_LEAST = ("minLength", "minItems", "minProperties")
_AT_MOST = ("maxLength", "maxItems", "maxProperties")


class Kind(StrEnum):
    """How a value admitted by the narrow schema escapes the wide one."""

    REQUIRED = "required"
    """Wide requires a field that narrow does not have."""
    NOW_REQUIRED = "now_required"
    """Wide requires a field that narrow has as optional."""
    UNLISTED = "unlisted"
    """Narrow has a field that wide, closed, does not list."""
    UNCONSTRAINED = "unconstrained"
    """Wide constrains a field that narrow, open, does not list (any value may appear)."""
    OPEN = "open"
    """Narrow takes unknown fields where wide refuses them."""
    TYPE = "type"
    VALUE = "value"
    BOUND = "bound"


@dataclass(frozen=True, slots=True)
class Break:
    field: str
    """Dotted path of the field, `[]` for an array's items and `{}` for a map's values."""
    kind: Kind
    detail: str = ""


_INPUT = {
    Kind.REQUIRED: "newly required",
    Kind.NOW_REQUIRED: "required now, optional when released",
    Kind.UNLISTED: "removed (records carrying it would be refused)",
    Kind.UNCONSTRAINED: "constrained now, free when released",
    Kind.OPEN: "closed to fields it accepted",
    Kind.TYPE: "type narrowed",
    Kind.VALUE: "value no longer accepted",
    Kind.BOUND: "constraint tightened",
}
_OUTPUT = {
    Kind.REQUIRED: "removed",
    Kind.NOW_REQUIRED: "no longer always written",
    Kind.UNLISTED: "added to an object the released schema closed",
    Kind.UNCONSTRAINED: "removed",
    Kind.OPEN: "open to fields where the released schema was closed",
    Kind.TYPE: "type widened",
    Kind.VALUE: "new value",
    Kind.BOUND: "constraint loosened",
}


def describe(item: Break, output: bool) -> str:
    """One break as the side it hurts would put it: producers of inputs, consumers of outputs."""
    what = (_OUTPUT if output else _INPUT)[item.kind]
    return f"{item.field}: {what}" + (f" ({item.detail})" if item.detail else "")


@dataclass(frozen=True, slots=True)
class _Doc:
    """A schema node with the document its `$ref`s resolve in."""

    node: Schema
    defs: Mapping[str, Schema]

    def at(self, node: Any) -> "_Doc":
        return _Doc(node if isinstance(node, Mapping) else {}, self.defs)

    def resolved(self) -> "_Doc":
        node, seen = self.node, set()
        while "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                break
            seen.add(ref)
            target = self.defs.get(ref.rsplit("/", 1)[-1], {})
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _Doc(node, self.defs)


def problems(topic: str, released: Schema, current: Schema, output: bool) -> list[str]:
    """Why `current` cannot ship as `topic` where `released` was: one line per field."""
    if output:
        found = breaks(wide=released, narrow=current)
        lines = [
            f"{path}: refuses fields a later version may add" for path in closed_objects(current)
        ]
    else:
        found, lines = breaks(wide=current, narrow=released), []
    lines += [describe(b, output) for b in found]
    return [f"{topic}: {line}" for line in dict.fromkeys(lines)]


def breaks(wide: Schema, narrow: Schema) -> list[Break]:
    """Every field where `narrow` admits a value that `wide` refuses (empty: none found).

    Inputs: wide = current, narrow = released. Outputs: wide = released, narrow = current.
    """
    found = _admits(_Doc(wide, wide.get("$defs", {})), _Doc(narrow, narrow.get("$defs", {})), "")
    return sorted(set(found), key=lambda b: (b.field, b.kind, b.detail))


def closed_objects(schema: Schema) -> list[str]:
    """Paths of objects in a schema that refuse fields they do not list."""
    doc = _Doc(schema, schema.get("$defs", {}))
    return sorted(set(_closed(doc, "", set())))


def _closed(doc: _Doc, path: str, seen: set[str]) -> Iterator[str]:
    if "$ref" in doc.node:
        if doc.node["$ref"] in seen:
            return
        seen = seen | {doc.node["$ref"]}
    node = doc.resolved().node
    if node.get("additionalProperties") is False:
        yield path or "(the record)"
    for name, child in node.get("properties", {}).items():
        yield from _closed(doc.at(child), _join(path, name), seen)
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(node.get(key), Mapping):
            yield from _closed(doc.at(node[key]), path + suffix, seen)
    for branch in [*node.get("anyOf", ()), *node.get("oneOf", ())]:
        yield from _closed(doc.at(branch), path, seen)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _branches(doc: _Doc) -> list[_Doc]:
    node = doc.resolved().node
    options = node.get("anyOf") or node.get("oneOf")
    if not options:
        return [doc.resolved()]
    rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
    return [b for o in options for b in _branches(doc.at({**rest, **o}))]


def _admits(wide: _Doc, narrow: _Doc, path: str) -> list[Break]:
    """A narrow branch is admitted when some wide branch admits it; if none does, the
    closest one's reasons are the report."""
    wide_options, problems = _branches(wide), list[Break]()
    for branch in _branches(narrow):
        attempts = [_admits_one(w, branch, path) for w in wide_options]
        if all(attempts):
            closest: list[Break] = min(attempts, key=len)
            problems.extend(closest)
    return problems


def _types(node: Schema) -> set[str] | None:
    if "const" in node:
        return {_json_type(node["const"])}
    if "enum" in node:
        return {_json_type(v) for v in node["enum"]}
    kind = node.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _values(node: Schema) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    return list(node["enum"]) if "enum" in node else None


def _admits_one(wide: _Doc, narrow: _Doc, path: str) -> list[Break]:
    w, n = wide.node, narrow.node
    where = path or "(the record)"
    wide_types, narrow_types = _types(w), _types(n)
    if wide_types is not None:
        if narrow_types is None:
            return [Break(where, Kind.TYPE, f"any type where only {_names(wide_types)} was")]
        if "number" in wide_types:
            wide_types = wide_types | {"integer"}
        extra = narrow_types - wide_types
        if extra:
            detail = f"{_names(extra)} where only {_names(wide_types)} was"
            return [Break(where, Kind.TYPE, detail)]
    problems = _values_admitted(w, n, where)
    problems += _bounds_admitted(w, n, where)
    if narrow_types is None or narrow_types & {"object"}:
        problems += _object_admitted(wide, narrow, path)
    if (narrow_types is None or "array" in narrow_types) and "items" in w:
        problems += _admits(wide.at(w["items"]), narrow.at(n.get("items", {})), path + "[]")
    return problems


def _names(types: set[str]) -> str:
    return "/".join(sorted(types))


def _values_admitted(w: Schema, n: Schema, where: str) -> list[Break]:
    wide_values, narrow_values = _values(w), _values(n)
    if wide_values is None:
        return []
    if narrow_values is None:
        return [Break(where, Kind.VALUE, f"any, where only {sorted(map(str, wide_values))}")]
    return [Break(where, Kind.VALUE, repr(v)) for v in narrow_values if v not in wide_values]


def _bounds_admitted(w: Schema, n: Schema, where: str) -> list[Break]:
    problems = []
    for keys, sign in ((_LOWER, 1), (_UPPER, -1)):
        wide_bound, narrow_bound = _bound(w, keys, sign), _bound(n, keys, sign)
        if wide_bound is not None and (narrow_bound is None or narrow_bound < wide_bound):
            detail = f"{_bound_text(w, keys)} against {_bound_text(n, keys) or 'none'}"
            problems.append(Break(where, Kind.BOUND, detail))
    for key in _AT_LEAST:
        if key in w and n.get(key, 0) < w[key]:
            problems.append(Break(where, Kind.BOUND, f"{key} {w[key]} against {n.get(key)}"))
    for key in _AT_MOST:
        if key in w and (key not in n or n[key] > w[key]):
            problems.append(Break(where, Kind.BOUND, f"{key} {w[key]} against {n.get(key)}"))
    for key in ("pattern", "format"):
        if key in w and n.get(key) != w[key]:
            problems.append(Break(where, Kind.BOUND, f"{key} {w[key]!r} against {n.get(key)!r}"))
    return problems


def _bound(node: Schema, keys: tuple[tuple[str, bool], ...], sign: int) -> tuple[float, int] | None:
    """A comparable lower bound (sign 1) or negated upper bound (sign -1): bigger is tighter."""
    found = [(sign * node[k], int(exclusive)) for k, exclusive in keys if k in node]
    return max(found) if found else None


def _bound_text(node: Schema, keys: tuple[tuple[str, bool], ...]) -> str:
    return ", ".join(f"{k}={node[k]}" for k, _ in keys if k in node)


def _object_admitted(wide: _Doc, narrow: _Doc, path: str) -> list[Break]:
    w, n = wide.node, narrow.node
    wide_props: Mapping[str, Any] = w.get("properties", {})
    narrow_props: Mapping[str, Any] = n.get("properties", {})
    wide_rest, narrow_rest = (
        w.get("additionalProperties", True),
        n.get("additionalProperties", True),
    )
    problems = []
    for name in sorted(set(w.get("required", ())) - set(n.get("required", ()))):
        field = _join(path, name)
        problems.append(Break(field, Kind.NOW_REQUIRED if name in narrow_props else Kind.REQUIRED))
    for name, child in narrow_props.items():
        field = _join(path, name)
        if name in wide_props:
            problems.extend(_admits(wide.at(wide_props[name]), narrow.at(child), field))
        elif wide_rest is False:
            problems.append(Break(field, Kind.UNLISTED))
        elif isinstance(wide_rest, Mapping):
            problems.extend(_admits(wide.at(wide_rest), narrow.at(child), field))
    if narrow_rest is not False:
        if wide_rest is False:
            problems.append(Break(path or "(the record)", Kind.OPEN))
        for name, child in wide_props.items():
            if name not in narrow_props and child:
                problems.append(Break(_join(path, name), Kind.UNCONSTRAINED))
        if isinstance(wide_rest, Mapping):
            rest = narrow_rest if isinstance(narrow_rest, Mapping) else {}
            problems.extend(_admits(wide.at(wide_rest), narrow.at(rest), path + "{}"))
    if "propertyNames" in w:
        names = n.get("propertyNames", {})
        problems.extend(_admits(wide.at(w["propertyNames"]), narrow.at(names), path + "{key}"))
    return problems
