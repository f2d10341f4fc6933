"""One validated settings object: process settings from ABM_* env vars, rules from TOML.

The rules themselves (what a team tunes) are pure models in streams/logic/rules.py; this
module reads them from a file and fails with a message naming the file and the key.
"""

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.crash_points import parse
from streams.logic.routes import DEFAULT_ROUTE, Route, default_route
from streams.logic.rules import FrozenModel, Rules

__all__ = [
    "ConfigError",
    "KafkaSecurity",
    "Settings",
    "Topics",
    "Webhook",
    "all_routes",
    "check_routes",
    "load_routes",
    "load_rules",
    "load_settings",
    "route_keys",
]


class Topics(FrozenModel):
    engagement: str = "abm.engagement.v1"
    intent: str = "abm.intent.v1"
    deals: str = "abm.deals.v1"
    accounts: str = "abm.accounts.v1"
    spend: str = "abm.spend.v1"
    contacts: str = "abm.contacts.v1"
    tier_changes: str = "abm.tier-changes.v1"
    stage_changes: str = "abm.stage-changes.v1"
    surge_alerts: str = "abm.surge-alerts.v1"
    dead_letter: str = "abm.dead-letter.v1"
    clock: str = "abm.clock.v1"
    erasure: str = "abm.erasure.v1"

    def inputs(self) -> list[str]:
        return [self.engagement, self.intent, self.deals, self.accounts, self.spend, self.contacts]

    def consumed(self) -> list[str]:
        """Every topic the workers' group reads: the inputs, the clock and erasure requests."""
        return [*self.inputs(), self.clock, self.erasure]

    def compacted(self) -> list[str]:
        """Topics whose latest record per key is the truth (profiles, rosters)."""
        return [self.accounts, self.contacts]

    def all(self) -> list[str]:
        return [
            *self.inputs(),
            self.tier_changes,
            self.stage_changes,
            self.surge_alerts,
            self.dead_letter,
            self.clock,
            self.erasure,
        ]


class Webhook(FrozenModel):
    """Where surge alerts are POSTed (Slack-compatible JSON), if anywhere.

    Delivery runs beside the agents, never in their way: a bounded queue, a few senders,
    retries with exponential backoff; an alert that cannot be delivered is dead-lettered.
    """

    url: AnyHttpUrl | None = None
    secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key; the signature is sent in X-ABM-Signature"
    )
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    max_backoff_s: Annotated[float, Field(gt=0, le=600)] = Field(
        default=30.0,
        description="the longest wait between attempts, a receiver's Retry-After included",
    )
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    senders: Annotated[int, Field(ge=1, le=32)] = 2
    max_age_s: Annotated[float, Field(gt=0)] = Field(
        default=86_400,
        description="alerts whose surge began longer ago (backfills, replays of history) "
        "stay on the topic but are not posted: sales needs news, not archaeology",
    )

    @model_validator(mode="after")
    def _signed(self) -> Self:
        if self.url is not None and not self.secret:
            raise ValueError("a webhook url needs a secret to sign its bodies with")
        return self


class KafkaSecurity(FrozenModel):
    """How clients authenticate to Kafka: TLS, SASL or both (PLAINTEXT for the embedded broker)."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ca_file: Path | None = Field(default=None, description="CA bundle (default: the system's)")
    cert_file: Path | None = Field(default=None, description="client certificate for mutual TLS")
    key_file: Path | None = None

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.sasl and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"{self.protocol} needs sasl_username and sasl_password")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} is not a file")
        return self


ACCOUNTS_TABLE = "accounts"
CAMPAIGNS_TABLE = "campaigns"
ROSTERS_TABLE = "rosters"
TABLES = (ACCOUNTS_TABLE, CAMPAIGNS_TABLE, ROSTERS_TABLE)
"""The worker's state tables: one AccountState per account, one per campaign's spend not
tied to an account, one Roster per account."""


class Settings(BaseSettings):
    """Process settings. Production defaults; tests and the demo shorten the timeouts."""

    model_config = SettingsConfigDict(
        env_prefix="ABM_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    app_id: str = "abm-signals"
    kafka_broker: str = "kafka://127.0.0.1:9092"
    kafka_security: KafkaSecurity = KafkaSecurity()
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="redis:// or rediss:// (TLS); put the password in redis_password, not here",
    )
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_ca_file: Path | None = None
    redis_prefix: str = "abm:"
    partitions: Annotated[int, Field(ge=1, le=1024)] = 4
    replicas: Annotated[int, Field(ge=1, le=10)] = 1
    topics: Topics = Topics()
    store: str = "memory://"
    rocksdb_block_cache_mib: Annotated[int, Field(ge=1)] = Field(
        default=32,
        description="RocksDB block cache per table partition (faust's default is 2 GiB each)",
    )
    rocksdb_write_buffer_mib: Annotated[int, Field(ge=1)] = Field(
        default=16, description="RocksDB write buffer per table partition (two of them)"
    )
    data_dir: Path = Path(".abm-data")
    web_host: str = "127.0.0.1"
    web_port: Annotated[int, Field(ge=0, le=65535)] = 6066
    view_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=6068, description="`abm view`'s /metrics port (0: none)"
    )
    worker_view: bool = Field(
        default=False,
        description="the worker also writes the Redis view from its own tables (one "
        "process for a small install; `abm worker --with-view`); by default it writes only "
        "Kafka and `abm view` processes keep Redis from the state changelogs",
    )
    fetch_max_wait_ms: Annotated[int, Field(ge=1, le=30_000)] = Field(
        default=1500,
        description="how long the broker may hold an empty fetch; keep it short (20) on "
        "brokers that do not answer a held fetch when data arrives, like the embedded one",
    )
    producer_max_batch_bytes: Annotated[int, Field(ge=1)] = Field(
        default=262_144,
        description="the worker producer's batch size (changelogs, outputs): account "
        "states run to kilobytes, and at faust's 16 KiB a flush of thousands of them waits "
        "on many round trips; 1 sends one record per batch, which the embedded broker needs "
        "to report log ends right",
    )
    session_timeout_s: Annotated[float, Field(gt=0)] = 60.0
    heartbeat_interval_s: Annotated[float, Field(gt=0)] = 3.0
    clock: Literal["wall", "event"] = Field(
        default="wall",
        description="what 'now' is for the staleness timer: the wall clock (production) "
        "or the newest event time seen on the partition (replays, tests)",
    )
    tick_interval_s: Annotated[float, Field(gt=0)] = 30.0
    tick_max_per_s: Annotated[float, Field(gt=0)] = Field(
        default=500.0,
        description="staleness ticks a worker sends per second at most (each costs what an "
        "event does): every account's windows move at 00:00 UTC, and this spreads that "
        "burst over timer rounds instead of queueing live events behind it",
    )
    redis_flush_interval_s: Annotated[float, Field(gt=0)] = 0.5
    redis_flush_busy_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=2.0,
        description="how long a busy worker (more accounts waiting than one Redis batch "
        "holds) lets changed accounts gather before writing the view: an account changed "
        "again meanwhile is written once (its measured gain: bench/README.md)",
    )
    state_flush_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=0.5,
        description="how often account states are stored (one changelog record per account "
        "changed since the last time) and the input offsets behind them acknowledged",
    )
    state_flush_max_events: Annotated[int, Field(ge=1)] = Field(
        default=5_000, description="store states sooner when this many events wait for it"
    )
    kpi_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=2.0, description="how often the KPI hashes are rebuilt from the partials"
    )
    alerts_stream_maxlen: Annotated[int, Field(ge=100)] = 10_000
    watchdog_interval_s: Annotated[float, Field(gt=0)] = 5.0
    watchdog_stall_s: Annotated[float, Field(ge=0)] = Field(
        default=120.0,
        description="exit when input waits and the worker's read position has not moved "
        "for this long (0 turns the stall check off; a rewound log always exits)",
    )
    crash_at: str | None = Field(
        default=None,
        description="for crash tests only: POINT:N makes the worker kill itself (SIGKILL) "
        "the N-th time it passes POINT (streams/streams/crash_points.py names them)",
    )
    webhook: Webhook = Webhook()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    config_file: Path | None = None
    rules: Rules = Rules()
    routes: list[Route] = Field(
        default=[], description="`[[routes]]` of the rules file: where alerts go"
    )

    def changelog(self, table: str) -> str:
        """The changelog topic of one of the worker's tables (faust names it so)."""
        return f"{self.app_id}-{table}-changelog"

    def changelogs(self) -> list[str]:
        return [self.changelog(table) for table in TABLES]

    @field_validator("crash_at")
    @classmethod
    def _crash_point(cls, spec: str | None) -> str | None:
        if spec is not None:
            parse(spec)
        return spec

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if urlsplit(self.redis_url).password:
            raise ValueError(
                "redis_url carries a password: set ABM_REDIS_PASSWORD instead, so it is "
                "never printed with the URL"
            )
        if self.heartbeat_interval_s * 3 > self.session_timeout_s:
            raise ValueError(
                f"heartbeat_interval_s ({self.heartbeat_interval_s}) must be at most a third "
                f"of session_timeout_s ({self.session_timeout_s})"
            )
        return self


class ConfigError(Exception):
    """A setting is wrong; the message says which and why, for the person starting us."""


def _explain(exc: ValidationError, under: str = "") -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in (under, *err["loc"]) if p != "") or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read rules file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_rules(path: Path, otherwise: Rules | None = None) -> Rules:
    """A rules file (its `[rules]` table, or the whole file); errors name the file and key.
    A file of routes alone sets no rules: `otherwise` (the defaults if None)."""
    data = _read_toml(path)
    table = data["rules"] if "rules" in data else {k: v for k, v in data.items() if k != "routes"}
    if not table and otherwise is not None:
        return otherwise
    try:
        return Rules.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid rules:\n{_explain(exc)}") from exc


_ROUTES = TypeAdapter(list[Route])


def load_routes(path: Path) -> list[Route]:
    """The `[[routes]]` of a rules file (none: no routes); errors name the route's key."""
    try:
        routes = _ROUTES.validate_python(_read_toml(path).get("routes", []))
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid routes:\n{_explain(exc, 'routes')}") from exc
    names = [r.name for r in routes]
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"{path}: routes: each name once, repeated: {repeated}")
    return routes


def check_routes(routes: list[Route], rules: Rules) -> None:
    """A route naming a cluster the rules do not have would never hear of it: refused."""
    for route in routes:
        unknown = sorted(set(route.clusters) - set(rules.intent.clusters))
        if unknown:
            raise ConfigError(
                f"routes.{route.name}.clusters: {unknown} are not in rules.intent.clusters "
                f"{sorted(rules.intent.clusters)}"
            )


def all_routes(settings: Settings, routes: list[Route] | None = None) -> list[Route]:
    """The routes of the file (or `routes`), and the default route of ABM_WEBHOOK__URL."""
    found = list(settings.routes if routes is None else routes)
    if settings.webhook.url is not None:
        default = default_route(str(settings.webhook.url))
        if any(route.name == default.name for route in found):
            raise ConfigError(f"routes: the name {default.name!r} is the ABM_WEBHOOK__URL route's")
        found.append(default)
    return found


def route_keys(settings: Settings) -> list[tuple[Route, bytes]]:
    """Every route with its HMAC key, each read from the variable it names (the default
    route's is ABM_WEBHOOK__SECRET); a route without its key stops the start."""
    keyed = []
    default_key = settings.webhook.secret
    for route in all_routes(settings):
        if route.name == DEFAULT_ROUTE and default_key is not None:
            key = default_key.get_secret_value()
        else:
            key = os.environ.get(route.secret_env, "")
        if not key:
            raise ConfigError(
                f"routes.{route.name}.secret_env: the environment variable "
                f"{route.secret_env} is not set (it holds the route's HMAC key)"
            )
        keyed.append((route, key.encode()))
    return keyed


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, rules from ABM_CONFIG_FILE; fail with a precise message."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(f"invalid ABM_* settings:\n{_explain(exc)}") from exc
    if settings.config_file is not None:
        rules = load_rules(settings.config_file)
        routes = load_routes(settings.config_file)
        check_routes(routes, rules)
        settings = settings.model_copy(update={"rules": rules, "routes": routes})
    return settings
