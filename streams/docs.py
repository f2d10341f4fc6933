"""`make docs`: the reference parts of docs/ written from the code, so they cannot drift.

Each generated part sits in a doc between `<!-- generated: NAME -->` and
`<!-- end: NAME -->`, and docs/cli.md is generated whole; everything else in the docs
is written by people. `make lint` (and the unit tests) run `--check`, which fails when a
generated part differs from what the code says now, or when a topic's field table in
docs/topics.md leaves out a field of its model or names one it does not have.

The sources: the settings model (streams/config.py: every field's description is its
row), the metrics each process registers (their help texts), the topics and the schema
registry (schemas/registry.py) and the click commands. The rules reference and the
topics' field tables stay written by people (their meanings, ranges and examples are
prose), and are checked: every key of the rules models (streams/logic/rules.py) and every
field of a topic's model is described, and nothing else is.
"""

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import get_args

import click
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from schemas.registry import TOPIC_MODELS, is_output
from streams.clients.lag_exporter import LagExporter
from streams.collect.metrics import CollectMetrics
from streams.config import Settings, Topics
from streams.logic.inputs.decode import InputKind
from streams.logic.rules import Rules
from streams.sinks.webhook import DeliveryStats
from streams.view.metrics import ViewMetrics
from streams.worker.metrics import Live, Metrics

__all__ = ["check", "generated", "main", "write"]

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?)(<!-- end: \2 -->)", re.DOTALL)

SETTINGS_SECTIONS: dict[str, tuple[str, ...]] = {
    "Connections": (
        "kafka_broker",
        "kafka_security",
        "redis_url",
        "redis_username",
        "redis_password",
        "redis_ca_file",
        "redis_prefix",
    ),
    "Topics, group and state": (
        "app_id",
        "partitions",
        "replicas",
        "compaction_max_lag_days",
        "topics",
        "store",
        "data_dir",
        "rocksdb_block_cache_mib",
        "rocksdb_write_buffer_mib",
        "config_file",
        "worker_view",
        "view_port",
    ),
    "Timing": (
        "state_flush_interval_s",
        "state_flush_max_events",
        "redis_flush_interval_s",
        "redis_flush_busy_interval_s",
        "kpi_interval_s",
        "alerts_stream_maxlen",
        "clock",
        "tick_interval_s",
        "tick_max_per_s",
        "people_sweep_interval_s",
        "session_timeout_s",
        "heartbeat_interval_s",
        "watchdog_interval_s",
        "watchdog_stall_s",
        "crash_at",
        "fetch_max_wait_ms",
        "producer_max_batch_bytes",
    ),
    "Account matching and `abm collect`": (
        "identity_key",
        "collect_port",
        "collect_write_keys",
        "collect_host",
        "collect_max_pending",
        "collect_ack_timeout_s",
    ),
    "HTTP, webhook, logs": (
        "web_host",
        "web_port",
        "web_allowed_hosts",
        "web_token",
        "erasure_key",
        "webhook",
        "log_level",
    ),
}
"""How the settings table is cut into sections (every env setting in exactly one)."""
FROM_THE_RULES_FILE = ("rules", "routes", "sources")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: object) -> str:
    if value is None or value == [] or isinstance(value, SecretStr):
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _rows(prefix: str, fields: dict[str, FieldInfo], names: tuple[str, ...]) -> Iterator[str]:
    for name in names:
        info = fields[name]
        if isinstance(info.default, BaseModel):
            nested = type(info.default).model_fields
            yield from _rows(f"{prefix}{name.upper()}__", nested, tuple(nested))
            continue
        if not info.description:
            raise ValueError(f"the setting {prefix}{name.upper()} has no description")
        variable = f"`{prefix}{name.upper()}`"
        yield f"| {variable} | {_default(info.default)} | {_cell(info.description)} |"


def settings_tables() -> str:
    fields = Settings.model_fields
    placed = [n for names in SETTINGS_SECTIONS.values() for n in names]
    unplaced = set(fields) - set(placed) - set(FROM_THE_RULES_FILE)
    if unplaced or len(placed) != len(set(placed)):
        raise ValueError(f"settings in no section (or in two): {sorted(unplaced)}")
    out = []
    for title, names in SETTINGS_SECTIONS.items():
        out += [f"### {title}", "", "| variable | default | meaning |", "|---|---|---|"]
        out += [*_rows("ABM_", fields, names), ""]
    return "\n".join(out)


def topics_table() -> str:
    """Every topic: its default name, its setting, what it carries and its contract."""
    out = ["| topic | setting | carries | payload model | JSON Schema |", "|---|---|---|---|---|"]
    for field, info in Topics.model_fields.items():
        topic = info.default
        model = TOPIC_MODELS.get(topic)
        if field == "segment":
            shown, schema = "Segment's calls", "Segment's spec ([sources.md](sources.md))"
        elif model is None:
            shown, schema = "-", "none (internal)"
        else:
            side = "outputs" if is_output(topic) else "inputs"
            shown = f"`schemas.{side}.{model.__name__}`"
            schema = f"`schemas/json/{topic}.schema.json`"
        carries = _cell(info.description or "")
        out.append(
            f"| `{topic}` | `ABM_TOPICS__{field.upper()}` | {carries} | {shown} | {schema} |"
        )
    return "\n".join(out) + "\n"


def _specimen() -> Live:
    """One of each figure, so every labelled family shows its labels."""
    return Live(
        consumer_lag={("topic", 0): 0},
        event_time_lag_s={0: 0.0},
        tier_accounts={1: 0},
        routes={"default": (DeliveryStats(), 0)},
    )


def _metric_rows(registry: CollectorRegistry) -> list[str]:
    rows = {}
    for collector in list(registry._collector_to_names):
        fixed = getattr(collector, "_labelnames", None)
        for family in collector.collect():
            labels = fixed if fixed is not None else getattr(family, "_labelnames", ())
            if not labels:
                sampled = {k for s in family.samples for k in s.labels if k not in ("le",)}
                labels = tuple(sorted(sampled))
            name = family.name + ("_total" if family.type == "counter" else "")
            kind = "histogram" if family.type == "histogram" else family.type
            shown = ", ".join(f"`{label}`" for label in labels)
            rows[name] = f"| `{name}` | {kind} | {shown} | {_cell(family.documentation)} |"
    head = ["| metric | type | labels | what |", "|---|---|---|---|"]
    return [*head, *(rows[name] for name in sorted(rows))]


def worker_metrics() -> str:
    metrics = Metrics(list(InputKind))
    metrics.watch(_specimen)
    return "\n".join(_metric_rows(metrics.registry)) + "\n"


def view_metrics() -> str:
    return "\n".join(_metric_rows(ViewMetrics().registry)) + "\n"


def collect_metrics() -> str:
    return "\n".join(_metric_rows(CollectMetrics(lambda: 0, lambda: 0).registry)) + "\n"


def exporter_metrics() -> str:
    registry = CollectorRegistry()
    registry.register(LagExporter(Settings(), "abm-signals", Topics().consumed(), 10.0))
    return "\n".join(_metric_rows(registry)) + "\n"


def _section(text: str, heading: str) -> str | None:
    """The body of the `### ...` section whose heading names `heading`, up to the next."""
    found = re.search(rf"^### [^\n]*{re.escape(heading)}[^\n]*$(.*?)(?=^##)", text, re.M | re.S)
    return None if found is None else found.group(1)


def _keys(section: str, prefix: str) -> set[str]:
    """The backticked names opening the rows of the section's first table (`prefix.name`
    counts as `name`; `[rules.weights]` lists actions in pairs, the third cell too)."""
    first = re.search(r"(?:^\|.*\|\n)+", section, re.M)
    keys = set()
    for row in re.findall(r"^\|(.*)\|$", first.group(0) if first else "", re.M):
        cells = [c.strip() for c in row.split("|")]
        for cell in cells[::2] if len(cells) == 4 and cells[1].isdigit() else cells[:1]:
            if found := re.fullmatch(rf"`(?:{re.escape(prefix)}\.)?(\w+)`", cell):
                keys.add(found.group(1))
    return keys


def _rules_sections() -> dict[str, set[str]]:
    """Heading -> the keys it must describe: `[rules]` holds every key that is not a
    section of its own, and each nested model (or list of them) is a section."""
    top, sections = set(), {}
    for name, info in Rules.model_fields.items():
        annotation = info.annotation
        inner = get_args(annotation)[0] if get_args(annotation) else annotation
        if name == "weights":
            sections["[rules.weights]"] = {str(action) for action in Rules().weights}
            top.add(name)
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            many = inner is not annotation
            sections[f"[[rules.{name}]]" if many else f"[rules.{name}]"] = set(inner.model_fields)
            if many:
                top.add(name)
        else:
            top.add(name)
    return {"[rules]": top, **sections}


def rules_problems(text: str) -> list[str]:
    """Sections of docs/rules.md ("Every key") that leave out a key of the rules models,
    or describe one they do not have."""
    problems = []
    every_key = text.split("## Every key", 1)[-1]
    for heading, keys in _rules_sections().items():
        section = _section(every_key, f"`{heading}`")
        if section is None:
            problems.append(f"docs/rules.md: no section for `{heading}`")
            continue
        documented = _keys(section, heading.strip("[]").removeprefix("rules."))
        if missing := sorted(keys - documented):
            problems.append(f"docs/rules.md, {heading}: keys not described: {missing}")
        if extra := sorted(documented - keys):
            problems.append(f"docs/rules.md, {heading}: described but not in the model: {extra}")
    return problems


def cli_reference() -> str:
    """docs/cli.md: every command's help and options, as `abm --help` prints them."""
    from streams.cli import cli

    out = [
        "# Command line reference",
        "",
        "Generated from the commands themselves by `make docs`; `abm COMMAND --help` prints "
        "the same.",
        "",
    ]
    # A fixed width: click would otherwise wrap at the terminal's.
    settings = {**cli.context_settings, "terminal_width": 88, "max_content_width": 88}
    with click.Context(cli, info_name="abm", **settings) as root:
        commands = cli.list_commands(root)
        for name in commands:
            command = cli.get_command(root, name)
            if command is None or command.hidden:
                continue
            with click.Context(command, info_name=name, parent=root) as ctx:
                text = command.get_help(ctx)
            out += [f"## `abm {name}`", "", "```text", text, "```", ""]
    return "\n".join(out)


GENERATORS: dict[str, Callable[[], str]] = {
    "settings": settings_tables,
    "topics": topics_table,
    "worker-metrics": worker_metrics,
    "view-metrics": view_metrics,
    "exporter-metrics": exporter_metrics,
    "collect-metrics": collect_metrics,
}
WHOLE: dict[str, Callable[[], str]] = {"cli.md": cli_reference}


def generated(text: str) -> str:
    """`text` with every generated part written afresh."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in GENERATORS:
            raise ValueError(f"no generator named {name!r}")
        return f"{match.group(1)}{GENERATORS[name]()}{match.group(4)}"

    return BLOCK.sub(fill, text)


def _topic_section(text: str, topic: str) -> str | None:
    """The section of docs/topics.md about `topic`: headed by its name, or (dead letters)
    a section whose opening sentence names it."""
    name = re.escape(f"`{topic}`")
    headed = re.search(rf"^###? {name}.*?$(.*?)(?=^## |^### )", text, re.M | re.S)
    if headed is not None:
        return headed.group(1)
    opened = re.search(rf"^## [^\n]*\n\n{name}(.*?)(?=^## )", text, re.M | re.S)
    return None if opened is None else opened.group(1)


def _table_names(section: str) -> set[str]:
    """Names in the first cell of table rows (`a`, or several: `a`, `b`)."""
    names = set()
    for first in re.findall(r"^\| ([^|]+) \|", section, re.M):
        cells = [c.strip() for c in first.split(",")]
        if all(re.fullmatch(r"`\w+`", c) for c in cells):
            names |= {c.strip("`") for c in cells}
    return names


def _nested_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """The models a model's fields hold (an alert's topics, its committee), at any depth."""
    for info in model.model_fields.values():
        for arg in (info.annotation, *get_args(info.annotation)):
            for inner in (arg, *get_args(arg)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield inner
                    yield from _nested_models(inner)


def field_problems(text: str) -> list[str]:
    """Topics whose section of docs/topics.md leaves out a field: a top-level one from its
    field table, a nested one (described in the row's prose) from the section's text."""
    problems = []
    for topic, model in TOPIC_MODELS.items():
        section = _topic_section(text, topic)
        if section is None:
            problems.append(f"docs/topics.md: no section for {topic}")
            continue
        tabled = _table_names(section)
        if missing := sorted(set(model.model_fields) - tabled):
            problems.append(f"docs/topics.md, {topic}: fields not in its table: {missing}")
        nested = {name for inner in _nested_models(model) for name in inner.model_fields}
        words = set(re.findall(r"\w+", section))
        if missing := sorted(nested - words):
            problems.append(f"docs/topics.md, {topic}: nested fields not described: {missing}")
    return problems


def _targets() -> dict[Path, str]:
    """Every doc file and what it must hold."""
    out = {}
    for path in sorted(DOCS.glob("*.md")):
        if path.name in WHOLE:
            continue
        text = path.read_text()
        if BLOCK.search(text):
            out[path] = generated(text)
    for name, make in WHOLE.items():
        out[DOCS / name] = make()
    return out


def write() -> list[Path]:
    written = []
    for path, text in _targets().items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def check() -> list[str]:
    """What differs from the code, one line each (nothing: the docs are current)."""
    stale = [
        f"{path.relative_to(DOCS.parent)} differs from the code: run `make docs`"
        for path, text in _targets().items()
        if not path.is_file() or path.read_text() != text
    ]
    topics, rules = (DOCS / "topics.md").read_text(), (DOCS / "rules.md").read_text()
    return stale + field_problems(topics) + rules_problems(rules)


def main() -> None:
    if "--check" in sys.argv[1:]:
        if problems := check():
            sys.exit("\n".join(problems))
        return
    for path in write():
        print(path)


if __name__ == "__main__":
    main()
