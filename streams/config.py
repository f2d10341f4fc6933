"""One validated settings object: process settings from ABM_* env vars, rules from TOML.

The rules themselves (what a team tunes) are pure models in streams/logic/rules.py; this
module reads them from a file and fails with a message naming the file and the key.
"""

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from streams.crash_points import parse
from streams.logic.identity.segment import SegmentSource
from streams.logic.routes import DEFAULT_ROUTE, Route, default_route
from streams.logic.rules import FrozenModel, Rules

__all__ = [
    "ConfigError",
    "KafkaSecurity",
    "Settings",
    "Sources",
    "Topics",
    "Webhook",
    "all_routes",
    "check_routes",
    "load_routes",
    "load_rules",
    "load_settings",
    "load_sources",
    "route_keys",
]


class Topics(FrozenModel):
    """Every topic's name; the defaults are the contracts' names (docs/topics.md)."""

    engagement: str = Field(
        default="abm.engagement.v1", description="input: first-party engagement"
    )
    intent: str = Field(default="abm.intent.v1", description="input: third-party intent surges")
    deals: str = Field(default="abm.deals.v1", description="input: CRM deal-stage changes")
    accounts: str = Field(
        default="abm.accounts.v1", description="input: account profiles (compacted)"
    )
    spend: str = Field(default="abm.spend.v1", description="input: campaign spend")
    contacts: str = Field(
        default="abm.contacts.v1", description="input: contact rosters (compacted)"
    )
    sales_activities: str = Field(
        default="abm.sales-activities.v1",
        description="input: reps' calls, emails, meetings (what answers an alert)",
    )
    tier_changes: str = Field(default="abm.tier-changes.v1", description="output: tier changes")
    stage_changes: str = Field(default="abm.stage-changes.v1", description="output: journey stages")
    surge_alerts: str = Field(default="abm.surge-alerts.v1", description="output: surge alerts")
    alert_outcomes: str = Field(
        default="abm.alert-outcomes.v1",
        description="output: what followed each alert, once its horizon passed",
    )
    dead_letter: str = Field(default="abm.dead-letter.v1", description="output: refused records")
    clock: str = Field(default="abm.clock.v1", description="internal: the staleness timer's ticks")
    erasure: str = Field(default="abm.erasure.v1", description="internal: erasure requests")
    segment: str = Field(
        default="abm.segment.v1",
        description="input: Segment calls (from `abm collect`, or RudderStack's Kafka "
        "destination), matched to accounts before they count",
    )
    people: str = Field(
        default="abm.people.v1", description="internal: Segment calls re-keyed by person"
    )
    directory: str = Field(
        default="abm.directory.v1",
        description="internal: account lookups and the directory's changes, keyed by domain, "
        "contact or account",
    )
    unmatched: str = Field(
        default="abm.unmatched.v1", description="output: events that matched no account"
    )

    def inputs(self) -> list[str]:
        return [
            self.engagement,
            self.intent,
            self.deals,
            self.accounts,
            self.spend,
            self.contacts,
            self.sales_activities,
        ]

    def identity(self) -> list[str]:
        """The topics account matching reads: Segment calls, and its own two."""
        return [self.segment, self.people, self.directory]

    def consumed(self) -> list[str]:
        """Every topic the workers' group reads: the inputs, the clock, erasure requests
        and account matching's."""
        return [*self.inputs(), self.clock, self.erasure, *self.identity()]

    def compacted(self) -> list[str]:
        """Topics whose latest record per key is the truth (profiles, rosters)."""
        return [self.accounts, self.contacts]

    def all(self) -> list[str]:
        return [
            *self.inputs(),
            self.tier_changes,
            self.stage_changes,
            self.surge_alerts,
            self.alert_outcomes,
            self.dead_letter,
            self.clock,
            self.erasure,
            *self.identity(),
            self.unmatched,
        ]


MIN_KEY_BYTES = 32
"""The shortest HMAC key a route signs with (HMAC-SHA256's own block of security)."""


class Sources(FrozenModel):
    """`[sources]` of the rules file: how events that do not name their account are read."""

    segment: SegmentSource = SegmentSource()


class Webhook(FrozenModel):
    """Where surge alerts are POSTed (Slack-compatible JSON), if anywhere.

    Delivery runs beside the agents, never in their way: a bounded queue, a few senders,
    retries with exponential backoff; an alert that cannot be delivered is dead-lettered.
    """

    url: AnyHttpUrl | None = Field(
        default=None,
        description="the `default` route: surge alerts of tiers 1-3 are POSTed there; more "
        "routes are `[[routes]]` in the rules file, and the settings below apply to them all",
    )
    secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key; the signature is sent in X-ABM-Signature. Required with "
        "a URL",
    )
    timeout_s: Annotated[float, Field(gt=0, le=60)] = Field(
        default=5.0,
        description="per attempt; also the grace given to queued alerts at shutdown",
    )
    max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(
        default=5, description="attempts per alert"
    )
    backoff_s: Annotated[float, Field(gt=0, le=60)] = Field(
        default=0.5, description="the first backoff, doubling at each retry, with jitter"
    )
    max_backoff_s: Annotated[float, Field(gt=0, le=600)] = Field(
        default=30.0,
        description="the longest wait between attempts, a receiver's Retry-After included",
    )
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1000, description="alerts waiting for a sender, per route; more are dead-lettered"
    )
    senders: Annotated[int, Field(ge=1, le=32)] = Field(
        default=2, description="concurrent senders per route"
    )
    max_age_s: Annotated[float, Field(gt=0)] = Field(
        default=86_400,
        description="alerts whose surge began longer ago (backfills, replays of history) "
        "stay on the topic but are not posted: sales needs news, not archaeology",
    )

    @model_validator(mode="after")
    def _signed(self) -> Self:
        if self.url is not None and not self.secret:
            raise ValueError("a webhook url needs a secret to sign its bodies with")
        if self.secret is not None and len(self.secret.get_secret_value()) < MIN_KEY_BYTES:
            raise ValueError(f"the webhook secret must be at least {MIN_KEY_BYTES} bytes")
        return self


class KafkaSecurity(FrozenModel):
    """How clients authenticate to Kafka: TLS, SASL or both (PLAINTEXT for the embedded broker)."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`"
    )
    sasl_username: str | None = Field(default=None, description="required with a `SASL_*` protocol")
    sasl_password: SecretStr | None = Field(
        default=None, description="required with a `SASL_*` protocol"
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle for TLS (default: the system's)"
    )
    cert_file: Path | None = Field(
        default=None, description="client certificate for mutual TLS (with `key_file`)"
    )
    key_file: Path | None = Field(
        default=None, description="the client certificate's key (with `cert_file`)"
    )

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
PEOPLE_TABLE = "people"
DIRECTORY_TABLE = "directory"
IDENTITY_TABLES = (PEOPLE_TABLE, DIRECTORY_TABLE)
"""Account matching's tables: a Person per anonymous or user id, a directory Entry per
domain, contact and account. No view reads them."""


class Settings(BaseSettings):
    """Process settings. Production defaults; tests and the demo shorten the timeouts."""

    model_config = SettingsConfigDict(
        env_prefix="ABM_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    app_id: str = Field(
        default="abm-signals",
        description="the consumer group, and the prefix of the changelog topics",
    )
    kafka_broker: str = Field(
        default="kafka://127.0.0.1:9092",
        description="bootstrap servers; several as `kafka://h1:9092;h2:9092`",
    )
    kafka_security: KafkaSecurity = KafkaSecurity()
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis for the view; `rediss://` for TLS. A password in the URL is "
        "refused: set `ABM_REDIS_PASSWORD`",
    )
    redis_username: str | None = Field(default=None, description="Redis ACL user")
    redis_password: SecretStr | None = Field(default=None, description="Redis password")
    redis_ca_file: Path | None = Field(default=None, description="CA bundle for Redis TLS")
    redis_prefix: str = Field(default="abm:", description="prefix of every Redis key")
    partitions: Annotated[int, Field(ge=1, le=1024)] = Field(
        default=4,
        description="partitions of every topic created; all topics must have the same count "
        "(they are co-partitioned)",
    )
    replicas: Annotated[int, Field(ge=1, le=10)] = Field(
        default=1, description="replication factor of the topics created; 3 in production"
    )
    topics: Topics = Topics()
    store: str = Field(
        default="memory://",
        description="table store: `memory://` (state rebuilt from the changelog at every "
        "start) or `rocksdb://` (needs the `rocksdb` extra; state kept on disk)",
    )
    rocksdb_block_cache_mib: Annotated[int, Field(ge=1)] = Field(
        default=32,
        description="RocksDB block cache per table partition (faust's default is 2 GiB each)",
    )
    rocksdb_write_buffer_mib: Annotated[int, Field(ge=1)] = Field(
        default=16, description="RocksDB write buffer per table partition (two of them)"
    )
    data_dir: Path = Field(
        default=Path(".abm-data"), description="where RocksDB and faust keep their files"
    )
    web_host: str = Field(
        default="127.0.0.1",
        description="the worker's HTTP bind address; the container image sets `0.0.0.0`",
    )
    web_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=6066,
        description="the worker's `/health`, `/ready`, `/metrics`, `/accounts/{id}` and "
        "`/dashboard`",
    )
    web_allowed_hosts: list[str] | None = Field(
        default=None,
        description='Host names the worker\'s web port answers (JSON list; `["*"]`: any); '
        "others get 421, which stops DNS rebinding. Unset: its loopback names when bound to "
        "loopback, else any",
    )
    erasure_key: SecretStr | None = Field(
        default=None,
        description="the key `abm forget` names a person by (an HMAC of their id, on the "
        "erasure topic) and workers and view processes match them with: the same on all, "
        f"at least {MIN_KEY_BYTES} bytes. Unset: only whole accounts can be erased",
    )
    identity_key: SecretStr | None = Field(
        default=None,
        description="the key an email address is hashed under (HMAC-SHA256) to become a "
        "contact id, by `abm collect` and the workers alike, so that the address itself is "
        f"never stored and `abm forget --email` can find the person; at least {MIN_KEY_BYTES} "
        "bytes. Unset: addresses are reduced to their domains, and no one is known by one",
    )
    collect_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=8088, description="`abm collect`'s port: Segment's HTTP tracking API"
    )
    collect_write_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default=[],
        description="the write keys `abm collect` accepts (comma-separated); a call with "
        "another is refused (401)",
    )
    collect_host: str = Field(
        default="127.0.0.1",
        description="`abm collect`'s bind address; `0.0.0.0` to take calls from other "
        "machines (browsers: put it behind a TLS proxy)",
    )
    collect_max_pending: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=20_000,
        description="calls `abm collect` has handed to the producer that the broker has not "
        "acknowledged yet; a request that would go past it is answered 429 with Retry-After "
        "(senders retry), so a slow broker costs memory only up to this bound",
    )
    collect_ack_timeout_s: Annotated[float, Field(gt=0, le=300)] = Field(
        default=10,
        description="how long a request waits for the broker to acknowledge its calls before "
        "`abm collect` answers 503 (senders retry; a call sent twice is dropped downstream "
        "by its messageId)",
    )
    web_token: SecretStr | None = Field(
        default=None,
        description="if set, `/dashboard` and `/accounts/...` need it: `Authorization: "
        "Bearer TOKEN`, or open `/dashboard?token=TOKEN` once (an HttpOnly cookie keeps it)",
    )
    view_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=6068, description="`abm view`'s `/metrics` and `/ready` (0: none)"
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
    compaction_max_lag_days: Annotated[float, Field(gt=0, le=365)] = Field(
        default=7,
        description="the longest a superseded record stays in a compacted topic (the "
        "state changelogs, profiles, rosters) before compaction may remove it: set as "
        "max.compaction.lag.ms on the topics the engine creates, it bounds how long an "
        "erased person's old records remain",
    )
    session_timeout_s: Annotated[float, Field(gt=0)] = Field(
        default=60.0,
        description="consumer-group session timeout: how long a silent worker keeps its "
        "partitions. Shorter moves partitions sooner after a crash; a new worker may wait "
        "about half of it before its first event",
    )
    heartbeat_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=3.0, description="at most a third of the session timeout"
    )
    clock: Literal["wall", "event"] = Field(
        default="wall",
        description="what 'now' is for the staleness timer and the KPI windows: the wall "
        "clock (production) or the newest event time seen on the partition (replays, tests)",
    )
    tick_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=30.0, description="how often the staleness timer looks for due accounts"
    )
    people_sweep_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=3600.0,
        description="how often a worker looks for people idle past [sources.segment] "
        "people_days, to forget them",
    )
    tick_max_per_s: Annotated[float, Field(gt=0)] = Field(
        default=500.0,
        description="staleness ticks a worker sends per second at most (each costs what an "
        "event does): every account's windows move at 00:00 UTC, and this spreads that "
        "burst over timer rounds instead of queueing live events behind it",
    )
    redis_flush_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=0.5, description="how often the Redis view is written"
    )
    redis_flush_busy_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=2.0,
        description="how long a busy writer (more accounts waiting than one Redis batch "
        "holds) lets changed accounts gather before writing the view: an account changed "
        "again meanwhile is written once. The Redis alert stream waits with it; the alert "
        "topic and the webhooks do not",
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
    alerts_stream_maxlen: Annotated[int, Field(ge=100)] = Field(
        default=10_000, description="approximate cap of the Redis alert stream"
    )
    watchdog_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=5.0, description="how often the watchdog samples progress"
    )
    watchdog_stall_s: Annotated[float, Field(ge=0)] = Field(
        default=120.0,
        description="exit when input waits and the worker's read position has not moved "
        "for this long (0 turns the stall check off; a rewound log always exits)",
    )
    crash_at: str | None = Field(
        default=None,
        description="for crash tests only: `POINT:N` makes the worker kill itself (SIGKILL) "
        "the N-th time it passes POINT, one of the steps streams/crash_points.py names; "
        "never set it in production",
    )
    webhook: Webhook = Webhook()
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="`debug`, `info`, `warning` or `error`"
    )
    config_file: Path | None = Field(
        default=None, description="the rules file; without it, the built-in defaults"
    )
    rules: Rules = Field(default=Rules(), description="read from `config_file`, not from env")
    routes: list[Route] = Field(
        default=[], description="`[[routes]]` of the rules file: where alerts go"
    )
    sources: Sources = Field(
        default=Sources(), description="`[sources]` of the rules file: how raw calls are read"
    )

    def changelog(self, table: str) -> str:
        """The changelog topic of one of the worker's tables (faust names it so)."""
        return f"{self.app_id}-{table}-changelog"

    def changelogs(self) -> list[str]:
        return [self.changelog(table) for table in (*TABLES, *IDENTITY_TABLES)]

    @field_validator("erasure_key", "identity_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if key is not None and len(key.get_secret_value().encode()) < MIN_KEY_BYTES:
            name = str(info.field_name).replace("_", " ")
            raise ValueError(f"the {name} must be at least {MIN_KEY_BYTES} bytes")
        return key

    @field_validator("collect_write_keys", mode="before")
    @classmethod
    def _comma_separated(cls, keys: object) -> object:
        if isinstance(keys, str):
            return [key.strip() for key in keys.split(",") if key.strip()]
        return keys

    def erasure_key_bytes(self) -> bytes | None:
        return None if self.erasure_key is None else self.erasure_key.get_secret_value().encode()

    def identity_key_bytes(self) -> bytes | None:
        key = self.identity_key
        return None if key is None else key.get_secret_value().encode()

    @field_validator("crash_at")
    @classmethod
    def _crash_point(cls, spec: str | None) -> str | None:
        if spec is not None:
            parse(spec)
        return spec

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        url = urlsplit(self.redis_url)
        query = {name.lower() for name in parse_qs(url.query, keep_blank_values=True)}
        if url.password or url.username or query & {"password", "username"}:
            raise ValueError(
                "redis_url carries credentials: set ABM_REDIS_USERNAME and "
                "ABM_REDIS_PASSWORD instead, so they are never printed with the URL"
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
    table = data.get("rules", {k: v for k, v in data.items() if k not in ("routes", "sources")})
    if not table and otherwise is not None:
        return otherwise
    try:
        return Rules.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid rules:\n{_explain(exc)}") from exc


def load_sources(path: Path) -> Sources:
    """The `[sources]` of a rules file (none: the defaults); errors name the key."""
    try:
        return Sources.model_validate(_read_toml(path).get("sources", {}))
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid sources:\n{_explain(exc, 'sources')}") from exc


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
        if len(key.encode()) < MIN_KEY_BYTES:
            raise ConfigError(
                f"routes.{route.name}.secret_env: the key in {route.secret_env} must be at "
                f"least {MIN_KEY_BYTES} bytes"
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
        sources = load_sources(settings.config_file)
        settings = settings.model_copy(
            update={"rules": rules, "routes": routes, "sources": sources}
        )
    return settings
