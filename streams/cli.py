"""The `abm` command: run the embedded stack, a worker or the demo; produce, tail, inspect."""

import asyncio
import dataclasses
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
import orjson

from streams.config import (
    ConfigError,
    Settings,
    all_routes,
    check_routes,
    load_routes,
    load_rules,
    load_settings,
)
from streams.logic.inputs.decode import InputKind
from streams.logic.routes import Route
from streams.logic.rules import Rules
from streams.tune.objective import OBJECTIVES, Objective

__all__ = ["main"]

if TYPE_CHECKING:
    from streams.replay.run import Window


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _topic_name(settings: Settings, topic: str) -> str:
    """Accept a topic's name or its short kind (engagement, tier_changes, ...)."""
    kinds = settings.topics.model_dump()
    return kinds.get(topic.replace("-", "_"), topic)


def _unreachable(exc: Exception) -> str | None:
    """One line naming the broker or Redis a command could not reach; None for other errors."""
    from aiokafka.errors import KafkaConnectionError, KafkaError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        settings: Settings | None = load_settings()
    except ConfigError:
        settings = None
    if isinstance(exc, KafkaConnectionError):
        where = settings.kafka_broker if settings else "the Kafka broker"
        return f"cannot reach the Kafka broker at {where}: {exc}"
    if isinstance(exc, KafkaError):
        where = settings.kafka_broker if settings else "the Kafka broker"
        return f"the Kafka broker at {where} failed the request: {exc}"
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        where = settings.redis_url if settings else "Redis"
        return f"cannot reach Redis at {where}: {exc}"
    return None


class _Commands(click.Group):
    """Every command: a broker or Redis it cannot reach is one line and exit 1, no traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:  # anything else goes up unchanged
            if (message := _unreachable(exc)) is None:
                raise
            raise click.ClickException(message) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Real-time ABM signal engine: tiers, surge alerts and KPIs from Kafka streams.

    Settings come from ABM_* environment variables (ABM_KAFKA_BROKER, ABM_REDIS_URL, ...)
    and the rules file named by ABM_CONFIG_FILE; see the README.
    """
    # aiokafka logs each failed connection attempt; the command's own one-line error says
    # the same once. A worker sets its client loggers back to WARNING once Faust runs.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@cli.command()
def stack() -> None:
    """Run the embedded Kafka-compatible broker and Redis until Ctrl-C.

    Prints the ABM_* settings to export in other shells; creates every topic up front.
    """
    from streams.clients.admin import ensure_topics
    from streams.dev.embedded import EmbeddedStack, StackError
    from streams.dev.supervise import wait_for_stop

    try:
        embedded = EmbeddedStack().start()
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        settings = _settings(kafka_broker=embedded.kafka_broker, redis_url=embedded.redis_url)
        asyncio.run(ensure_topics(settings))
        for name, value in embedded.env().items():
            click.echo(f"{name}={value}")
        click.echo("# embedded stack up; Ctrl-C stops it", err=True)
        wait_for_stop(embedded.alive)
        if not embedded.alive():
            raise click.ClickException("an embedded server died; stack stopped")
    finally:
        embedded.stop()


@cli.command()
@click.option(
    "--with-view",
    is_flag=True,
    help="Also write the Redis view from this worker's tables (no `abm view` needed).",
)
def worker(with_view: bool) -> None:
    """Run a stream worker (Faust) against ABM_KAFKA_BROKER and ABM_REDIS_URL; it writes
    only Kafka unless --with-view (or ABM_WORKER_VIEW=true): `abm view` keeps Redis."""
    from streams.worker.runner import run_worker

    try:
        run_worker(_settings(**({"worker_view": True} if with_view else {})))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
def view() -> None:
    """Keep the Redis view from the workers' state changelogs (several view processes
    share the partitions)."""
    from streams.view.process import run_view

    asyncio.run(run_view(_settings()))


@cli.command()
@click.argument("topic")
@click.argument("file", type=click.File("rb"))
def produce(topic: str, file: click.utils.LazyFile) -> None:
    """Send a JSON-lines FILE ('-' for stdin) to TOPIC, keyed by each line's account_id
    (or, for spend without one, its campaign_id); a bad file is refused whole. TOPIC is a
    full name or a short kind (engagement, accounts, contacts, ...). A roster's contacts
    may be named by `email` (a CRM export): each becomes the keyed hash account matching
    knows the person by (ABM_IDENTITY_KEY), and the address is not sent."""
    from streams.clients.produce_tail import BadLine, keyed_lines
    from streams.clients.produce_tail import produce as send

    settings = _settings()
    name = _topic_name(settings, topic)
    try:
        records = keyed_lines(
            file,
            source=getattr(file, "name", "input"),
            rosters=name == settings.topics.contacts,
            identity_key=settings.identity_key_bytes(),
        )
    except BadLine as exc:
        raise click.ClickException(f"{exc}; nothing was sent") from None
    sent = asyncio.run(send(settings, name, records))
    click.echo(f"sent {sent} records to {name}", err=True)


@cli.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record.")
@click.option("--max", "max_records", type=click.IntRange(min=1), help="Stop after N records.")
@click.option(
    "--timeout", "timeout_s", type=click.FloatRange(min=0), help="Stop after S idle seconds."
)
def tail(
    topic: str, from_beginning: bool, max_records: int | None, timeout_s: float | None
) -> None:
    """Print TOPIC's records as JSON lines (no consumer group; commits nothing). TOPIC is
    a full name or a short kind (engagement, tier_changes, dead_letter, ...)."""
    from streams.clients.produce_tail import read_topic

    settings = _settings()

    async def run() -> None:
        name = _topic_name(settings, topic)
        async for _key, value in read_topic(
            settings,
            name,
            from_beginning=from_beginning,
            max_records=max_records,
            timeout_s=timeout_s,
        ):
            sys.stdout.write(value.decode("utf-8", "replace") + "\n")
            sys.stdout.flush()

    try:
        asyncio.run(run())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@cli.command()
@click.argument("account_id")
def account(account_id: str) -> None:
    """Print an account's snapshot from Redis as JSON."""
    from streams.clients.redis import sync_redis
    from streams.clients.redis_keys import RedisKeys

    settings = _settings()
    client = sync_redis(settings, decode_responses=True)
    snapshot = client.hgetall(RedisKeys(settings.redis_prefix).account(account_id))
    if not snapshot:
        raise click.ClickException(f"no snapshot for account {account_id!r} in Redis")
    click.echo(orjson.dumps(snapshot, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


@cli.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="The whole report (with daily series); with --campaigns or --owners, that part.",
)
@click.option("--campaigns", is_flag=True, help="A row per campaign: touches, influence, ROI.")
@click.option(
    "--owners",
    is_flag=True,
    help="A row per owner, busiest first: alerts delivered, responded, within SLA, "
    "response minutes, opportunity rate, pipeline per alert.",
)
def kpis(as_json: bool, campaigns: bool, owners: bool) -> None:
    """Print the ABM KPIs, overall, for the target accounts and per tier, summed from
    every partition's partial."""
    from redis.exceptions import RedisError

    from streams.clients.redis import async_redis
    from streams.kpi_table import campaign_table, kpi_table, owner_table
    from streams.sinks.kpi_view import read_report

    if campaigns and owners:
        raise click.UsageError(
            "--campaigns and --owners print different tables: give one of them, not both"
        )
    settings = _settings()

    async def read() -> dict:
        client = async_redis(settings, socket_timeout=5)
        try:
            return await read_report(client, settings, settings.rules)
        finally:
            await client.aclose()

    try:
        report = asyncio.run(read())
    except (RedisError, OSError) as exc:
        raise click.ClickException(f"cannot read KPIs from {settings.redis_url}: {exc}") from None
    part = "campaigns" if campaigns else "owners" if owners else None
    if as_json:
        shown = report if part is None else {"as_of": report["as_of"], part: report[part]}
        click.echo(orjson.dumps(shown, option=orjson.OPT_INDENT_2))
    else:
        table = {None: kpi_table, "campaigns": campaign_table, "owners": owner_table}[part]
        click.echo(table(report))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="The list as JSON (times in epoch ms).")
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=30,
    show_default=True,
    help="The trailing window, in days of event time, today included.",
)
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="Domains shown."
)
def unmatched(as_json: bool, days: int, limit: int) -> None:
    """List the business domains engaging that are not accounts yet (events, distinct
    people, first and last seen), busiest first: the accounts marketing should add. Read
    from the unmatched topic, each event once."""
    import time

    from aiokafka.errors import KafkaError

    from streams.clients.topic_read import StalledRead
    from streams.clients.unmatched import read_prospects, report
    from streams.kpi_table import unmatched_table

    settings = _settings()
    try:
        prospects, claimed = asyncio.run(read_prospects(settings))
    except (KafkaError, StalledRead, OSError) as exc:
        raise click.ClickException(f"cannot read {settings.topics.unmatched}: {exc}") from None
    shown = report(prospects, days, limit, int(time.time() * 1000), claimed)
    if as_json:
        click.echo(orjson.dumps(shown, option=orjson.OPT_INDENT_2))
    else:
        click.echo(unmatched_table(shown))


@cli.command()
@click.option("--group", default=None, help="Consumer group (default: ABM_APP_ID, the workers').")
@click.option("--samples", type=click.IntRange(1, 100), default=4, show_default=True)
@click.option(
    "--interval", "interval_s", type=click.FloatRange(0, 600), default=2.0, show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per partition.")
@click.option(
    "--serve",
    "port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Keep reading and serve the lag as Prometheus metrics on this port (/metrics).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address.")
@click.option(
    "--every",
    "every_s",
    type=click.FloatRange(1, 600),
    default=5.0,
    show_default=True,
    help="With --serve: seconds between reads from the broker.",
)
def lag(
    group: str | None,
    samples: int,
    interval_s: float,
    as_json: bool,
    port: int | None,
    host: str,
    every_s: float,
) -> None:
    """Per-partition lag of the worker group on every topic it reads (the inputs, the
    clock and erasure requests), read from the broker
    (works while no worker runs), with a status from the samples: OK, WARN (lag
    growing), STALL (commits not moving while lag > 0), STOP (never committed), REWIND
    (the log ends before the committed offset). WARN and STALL need samples spanning
    6 s (the defaults), as on the dashboard. With --serve it runs as a lag exporter for
    Prometheus, so lag stays visible and alertable while every worker is down."""
    from aiokafka.errors import KafkaError

    from streams.clients.group_lag import LagReadError, group_lag

    settings = _settings()
    topics = settings.topics.consumed()
    if port is not None:
        _serve_lag(settings, group or settings.app_id, topics, host, port, every_s)
        return
    try:
        rows = asyncio.run(
            group_lag(settings, group or settings.app_id, topics, samples, interval_s)
        )
    except (KafkaError, LagReadError, OSError) as exc:
        raise click.ClickException(f"cannot read lag from {settings.kafka_broker}: {exc}") from None
    if as_json:
        for r in rows:
            click.echo(orjson.dumps({**dataclasses.asdict(r), "status": str(r.status)}))
        return
    line = "{:<40} {:>4} {:>10} {:>10} {:>8}  {}"
    click.echo(line.format("topic", "part", "committed", "high-water", "lag", "status"))
    for r in rows:
        committed = "-" if r.committed is None else r.committed
        click.echo(line.format(r.topic, r.partition, committed, r.highwater, r.lag, r.status))


def _serve_lag(
    settings: Settings, group: str, topics: list[str], host: str, port: int, every_s: float
) -> None:
    from streams.clients.lag_exporter import LagExporter, serve_lag

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    exporter = LagExporter(settings, group, topics, every_s)

    def started() -> None:
        click.echo(f"serving the lag of group {group} at http://{host}:{port}/metrics")

    try:
        asyncio.run(serve_lag(exporter, host, port, started))
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror}") from None
    except KeyboardInterrupt:
        pass


def _routes(settings: Settings, path: Path | None, otherwise: list[Route]) -> list[Route]:
    """The routes of a rules file (with the default route), or `otherwise` when it has none."""
    if path is None:
        return otherwise
    routes = load_routes(path)
    return all_routes(settings, routes) if routes else otherwise


def _rules(settings: Settings, path: Path | None) -> Rules:
    if path is None:
        return settings.rules
    try:
        return load_rules(path, settings.rules)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _window(start: str | None, end: str | None) -> "Window":
    from streams.replay.command import event_time
    from streams.replay.run import Window

    try:
        window = Window(event_time(start, "--from"), event_time(end, "--to"))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if window.start is not None and window.end is not None and window.start >= window.end:
        raise click.ClickException(f"--from {start} is not before --to {end}")
    return window


_input_dir = click.option(
    "--input-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Read history from files here instead of the topics: "
    + ", ".join(f"{kind}.jsonl" for kind in InputKind)
    + " (any may be missing).",
)
_from = click.option("--from", "start", help="First event time (ISO-8601, UTC by default).")
_to = click.option("--to", "end", help="Event time to stop before (ISO-8601).")
_ticks = click.option(
    "--ticks/--no-ticks", default=True, help="Simulate the staleness timer (default: on)."
)
_workers = click.option(
    "--workers",
    type=click.IntRange(min=1, max=1024),
    help="Processes sharing the partitions (default: one per core, at most one per partition).",
)


def _workers_for(settings: Settings, workers: int | None) -> int:
    from streams.replay.shards import default_workers

    return default_workers(settings) if workers is None else workers


@cli.command()
@_input_dir
@_from
@_to
@click.option("--rules", "rules_file", type=click.Path(path_type=Path), help="Rules TOML file.")
@_ticks
@_workers
@click.option("--json", "as_json", is_flag=True, help="Tiers, transitions, alerts, KPIs.")
@click.option(
    "--publish",
    "prefix",
    help="Also write the results to topics PREFIX.tier-changes.v1, PREFIX.surge-alerts.v1 "
    "and Redis keys PREFIX:* (never the live ones).",
)
def replay(
    input_dir: Path | None,
    start: str | None,
    end: str | None,
    rules_file: Path | None,
    ticks: bool,
    workers: int | None,
    as_json: bool,
    prefix: str | None,
) -> None:
    """Run history through the live decision logic (never touching live state): final
    tiers, every transition, the alerts that would have fired, KPIs. Reads the input
    topics with a group-less consumer (nothing committed), or --input-dir."""
    from aiokafka.errors import KafkaError
    from redis.exceptions import RedisError

    from streams.clients.topic_read import StalledRead
    from streams.replay.command import replay as run_replay
    from streams.replay.command import replay_table
    from streams.replay.publish import namespace
    from streams.replay.shards import ShardError

    settings = _settings()
    rules, window = _rules(settings, rules_file), _window(start, end)
    try:
        publish_to = None if prefix is None else namespace(settings, prefix)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        result = run_replay(
            settings, rules, input_dir, window, ticks, _workers_for(settings, workers), publish_to
        )
    except (FileNotFoundError, KafkaError, RedisError, StalledRead, ShardError, OSError) as exc:
        raise click.ClickException(_unreachable(exc) or f"cannot replay: {exc}") from None
    click.echo(
        orjson.dumps(result, option=orjson.OPT_INDENT_2) if as_json else replay_table(result)
    )


@cli.command()
@click.option(
    "--candidate",
    "candidate_file",
    required=True,
    type=click.Path(path_type=Path),
    help="Rules TOML to try.",
)
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(path_type=Path),
    help="Rules TOML to compare with (default: the current rules).",
)
@_input_dir
@_from
@_to
@_ticks
@_workers
@click.option("--json", "as_json", is_flag=True, help="The whole difference as JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML report with charts (works offline).",
)
def backtest(
    candidate_file: Path,
    baseline_file: Path | None,
    input_dir: Path | None,
    start: str | None,
    end: str | None,
    ticks: bool,
    workers: int | None,
    as_json: bool,
    html_file: Path | None,
) -> None:
    """Replay history under the current rules and a candidate, in one pass, and show
    what would change: accounts moving tier (with both rules), alerts gained and lost,
    per-tier KPI deltas. Never touches live state."""
    from aiokafka.errors import KafkaError

    from streams.clients.topic_read import StalledRead
    from streams.replay.backtest import backtest as run_backtest
    from streams.replay.backtest import backtest_table
    from streams.replay.shards import ShardError

    settings = _settings()
    baseline, candidate = _rules(settings, baseline_file), _rules(settings, candidate_file)
    try:
        base_routes = _routes(settings, baseline_file, all_routes(settings))
        routes = (base_routes, _routes(settings, candidate_file, base_routes))
        check_routes(routes[0], baseline)
        check_routes(routes[1], candidate)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    window = _window(start, end)
    try:
        result = run_backtest(
            settings,
            baseline,
            candidate,
            input_dir,
            window,
            ticks,
            _workers_for(settings, workers),
            routes,
        )
    except (FileNotFoundError, KafkaError, StalledRead, ShardError, OSError) as exc:
        raise click.ClickException(_unreachable(exc) or f"cannot backtest: {exc}") from None
    shown = orjson.dumps(result, option=orjson.OPT_INDENT_2) if as_json else backtest_table(result)
    click.echo(shown)
    if html_file is not None:
        from streams.replay.report import write_report

        try:
            write_report(result, html_file)
        except OSError as exc:
            raise click.ClickException(f"cannot write {html_file}: {exc.strerror}") from None


@cli.command()
@_input_dir
@click.option(
    "--train-until",
    help="End of the training period (ISO-8601 date or time); after it, held out "
    "(default: the last quarter of the history is held out).",
)
@click.option(
    "--objective",
    type=click.Choice(OBJECTIVES),
    default="opportunity",
    show_default=True,
    help="What to tune for: a tier-1 day followed by an opportunity, or by one later won "
    "(the tier table and the ICP are tuned); or a surge alert followed by an opportunity "
    "(the surge thresholds are tuned).",
)
@click.option(
    "--horizon-days",
    type=click.IntRange(1, 365),
    default=90,
    show_default=True,
    help="How soon after the day the outcome must come.",
)
@click.option(
    "--max-tier1",
    type=click.IntRange(min=1),
    help="The most accounts in tier 1 on any day (default: a tenth of the accounts).",
)
@click.option("--max-tier2", type=click.IntRange(min=1), help="The most accounts in tier 2.")
@click.option(
    "--max-alerts-per-owner-week",
    type=click.IntRange(min=0),
    help="The most surge alerts one owner may hear in a week: the surge thresholds are "
    "tuned to meet it when the rules break it.",
)
@click.option(
    "--candidates",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    help="How many rule sets the search may score.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The search's seed.")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tuned rules here (TOML; only when they beat the current rules).",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the whole report as JSON.",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML report with a chart (works offline).",
)
@_workers
def tune(
    input_dir: Path | None,
    train_until: str | None,
    objective: str,
    horizon_days: int,
    max_tier1: int | None,
    max_tier2: int | None,
    max_alerts_per_owner_week: int | None,
    candidates: int,
    seed: int,
    out_file: Path | None,
    json_file: Path | None,
    html_file: Path | None,
    workers: int | None,
) -> None:
    """Learn tier thresholds and an ICP from the history's own outcomes, starting from
    the current rules, and judge them on a held-out period. Exits 2 when the tuned rules
    are no better than the current ones there (and writes no rules file). Never touches
    live state."""
    from aiokafka.errors import KafkaError

    from streams.clients.topic_read import StalledRead
    from streams.replay.command import event_time
    from streams.replay.shards import ShardError
    from streams.tune.command import NotTunable, Options
    from streams.tune.command import tune as run_tune
    from streams.tune.report import file_header, tune_table, write_html
    from streams.tune.rules_file import rules_toml
    from streams.tune.search import Constraints

    settings = _settings()
    try:
        until = event_time(train_until, "--train-until")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    options = Options(
        objective=cast(Objective, objective),
        horizon_days=horizon_days,
        train_until=until,
        constraints=Constraints(max_tier1, max_tier2),
        max_alerts_per_owner_week=max_alerts_per_owner_week,
        candidates=candidates,
        seed=seed,
    )
    try:
        result = run_tune(
            settings, settings.rules, input_dir, options, _workers_for(settings, workers)
        )
    except NotTunable as exc:
        raise click.ClickException(f"cannot tune: {exc}") from None
    except (FileNotFoundError, KafkaError, StalledRead, ShardError, OSError) as exc:
        raise click.ClickException(_unreachable(exc) or f"cannot tune: {exc}") from None
    click.echo(tune_table(result))
    better = result["verdict"]["better"]
    writes: list[tuple[Path | None, Callable[[Path], object]]] = [
        (
            json_file,
            lambda path: path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2)),
        ),
        (html_file, lambda path: write_html(result, path)),
        (
            out_file if better else None,
            lambda path: path.write_text(
                rules_toml(
                    Rules.model_validate(result["rules"]), result["changes"], file_header(result)
                )
            ),
        ),
    ]
    for path, write in writes:
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
        click.echo(f"wrote {path}")
    if out_file is not None and not better:
        click.echo(f"{out_file} not written: the tuned rules are no better on the held-out period")
    if not better:
        sys.exit(2)


@cli.command()
@click.option(
    "--check",
    is_flag=True,
    help="Fail if the committed files differ from the models, or if a model breaks its "
    "released schema.",
)
@click.option(
    "--release", is_flag=True, help="Record the current schemas as released (they may only grow)."
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
def schemas(check: bool, release: bool, out: Path | None) -> None:
    """Write (or --check) the JSON Schema file of every topic."""
    from schemas import registry

    directory = out or registry.JSON_DIR
    if check:
        stale = [
            t
            for t in registry.TOPIC_MODELS
            if not (directory / f"{t}.schema.json").is_file()
            or (directory / f"{t}.schema.json").read_text() != registry.json_schema_text(t)
        ]
        if stale:
            raise click.ClickException(f"out of date: {', '.join(stale)}; run `abm schemas`")
        if breaking := registry.breaking_changes(directory / "released"):
            raise click.ClickException(
                "breaking change to a released topic:\n  "
                + "\n  ".join(breaking)
                + "\nA released topic may only grow (new optional input fields, new output "
                "fields). Publish such a change on a new topic (e.g. abm.tier-changes.v2) and "
                "keep writing the old one until its consumers have moved."
            )
        click.echo(f"{len(registry.TOPIC_MODELS)} schema files match the models and their releases")
        return
    if release:
        try:
            written = registry.release(directory / "released")
        except ValueError as exc:
            raise click.ClickException(f"not released: {exc}") from None
    else:
        written = registry.export_json_schemas(directory)
    for path in written:
        click.echo(str(path))


@cli.command()
@click.option(
    "--account",
    "account_id",
    default=None,
    help="The account to erase, or of the contact (with --email: found when not given).",
)
@click.option(
    "--contact", "contact_id", default=None, help="Erase only this person of the account."
)
@click.option(
    "--email",
    default=None,
    help="Erase the person known by this address (needs ABM_IDENTITY_KEY): what account "
    "matching keeps of them, and their engagement at their account.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="How long to wait for a worker to confirm.",
)
def forget(
    account_id: str | None, contact_id: str | None, email: str | None, timeout_s: float
) -> None:
    """Erase an account, or one contact of it (GDPR art. 17), from the engine's state,
    outputs still to be sent and Redis, and wait until the worker holding it says done,
    and the view process that keeps Redis too (unless the worker keeps it itself).

    The request goes through the erasure topic, so it is applied in order with the
    account's records, by whichever worker holds the account, even one started later.
    With --email, the person is named by the keyed hash their address became (the
    address itself is stored nowhere); their account is found from the directory when
    --account is not given.
    """
    from streams.clients import erasure

    settings = _settings()
    if email is not None:
        if contact_id is not None:
            raise click.UsageError("name the person once: --contact or --email")
        try:
            contact_id = erasure.forget_person(settings, email)
            accounts = [account_id] if account_id else erasure.accounts_of(settings, email)
        except (erasure.MissingKey, erasure.NotAnAddress) as exc:
            raise click.UsageError(str(exc)) from None
        click.echo("what account matching kept of the person: erasure requested", err=True)
        if not accounts:
            click.echo(
                "no account claims the address's domain or lists the person: nothing more "
                "to erase (pass --account if they engaged one under another domain)"
            )
            return
    elif account_id is None:
        raise click.UsageError("--account is needed (or --email)")
    else:
        accounts = [account_id]
    for account in accounts:
        _erase(settings, account, contact_id, timeout_s)


def _erase(settings: Settings, account_id: str, contact_id: str | None, timeout_s: float) -> None:
    from pydantic import ValidationError

    from streams.clients import erasure

    try:
        request = erasure.erasure_request(account_id, contact_id, settings.erasure_key_bytes())
    except erasure.MissingKey as exc:
        raise click.UsageError(str(exc)) from None
    except ValidationError:
        raise click.UsageError(
            "--account and --contact take ids: 1-128 letters, digits and _ . : @ / + -"
        ) from None
    what = (
        f"contact {contact_id} of account {account_id}" if contact_id else f"account {account_id}"
    )
    erasure.send(settings, request)
    click.echo(f"erasure of {what} requested ({request.request_id})", err=True)
    try:
        outcome = erasure.outcome(settings, request, timeout_s)
    except erasure.Unconfirmed as exc:
        raise click.ClickException(str(exc)) from None
    redis = (
        "the view process cleared Redis"
        if outcome.view_process
        else f"{outcome.redis} Redis entries"
    )
    click.echo(
        f"erased {what}: {outcome.state} in its state, {outcome.roster} in its roster, {redis}"
    )


@cli.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to listen on (default: ABM_COLLECT_PORT, 8088; 0: any free one).",
)
@click.option("--host", default=None, help="Address (default: ABM_COLLECT_HOST, 127.0.0.1).")
def collect(port: int | None, host: str | None) -> None:
    """Take Segment calls over HTTP (Segment's tracking API: analytics.js, the SDKs, a
    webhook destination) and produce each to abm.segment.v1, its email addresses
    removed, keyed by person. Needs ABM_COLLECT_WRITE_KEYS; answers once the broker has
    the calls."""
    from streams.collect.run import CollectError, run_collect

    settings = _settings()
    where = host or settings.collect_host
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def started(bound: int) -> None:
        click.echo(
            f"collecting Segment calls at http://{where}:{bound}/v1 into {settings.topics.segment}"
        )

    try:
        run_collect(settings, where, settings.collect_port if port is None else port, started)
    except CollectError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--strict", is_flag=True, help="Fail when it cannot be built.")
def kernel(strict: bool) -> None:
    """Compile the pure logic with mypyc (again only when its sources change); without a
    C compiler (or mypy) the logic runs interpreted, the same decisions, slower."""
    from streams.dev.kernel import KernelBuildError, build

    try:
        where = build()
    except (KernelBuildError, OSError) as exc:
        message = f"the compiled logic could not be built; it runs interpreted:\n{exc}"
        if strict:
            raise click.ClickException(message) from None
        click.echo(message, err=True)
        return
    click.echo(f"compiled logic: {where}", err=True)


@cli.command()
@click.option("--accounts", type=click.IntRange(10, 100_000), default=2000, show_default=True)
@click.option("--days", type=click.IntRange(7, 365), default=60, show_default=True)
@click.option(
    "--live-minutes",
    type=click.FloatRange(0, 24 * 60),
    default=30,
    show_default=True,
    help="How long to keep sending live traffic after the history (then it just serves).",
)
@click.option("--exit-after", is_flag=True, help="Stop once the history is loaded.")
def demo(accounts: int, days: int, live_minutes: float, exit_after: bool) -> None:
    """Embedded stack + worker + synthetic ABM history, then live traffic and alerts."""
    from streams.dev.demo import run_demo

    run_demo(accounts, days, live_minutes, keep_running=not exit_after)


def main() -> None:
    cli()
