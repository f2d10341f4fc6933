"""Building the Faust app from settings: topics, tables, the worker context, and every
agent, timer and page registered on it by the module that owns it."""

import logging
from typing import Any

import faust

from schemas.outputs import DeadLetterReason
from streams.clients.admin import TOPIC_MAX_MESSAGE_BYTES
from streams.clients.kafka import faust_credentials
from streams.clients.redis import async_redis
from streams.clients.redis_keys import RedisKeys
from streams.config import (
    ACCOUNTS_TABLE,
    CAMPAIGNS_TABLE,
    DIRECTORY_TABLE,
    PEOPLE_TABLE,
    ROSTERS_TABLE,
    Settings,
    route_keys,
)
from streams.crash_points import CrashPoints
from streams.dashboard.pages import register_dashboard
from streams.logic.inputs.decode import InputKind
from streams.sinks.notify import Delivery
from streams.sinks.redis_view import RedisView
from streams.sinks.view_writer import NoView, ViewWriter
from streams.sinks.webhook import GiveUp, WebhookSink
from streams.worker.agents.clock import register_clock
from streams.worker.agents.emit import register_webhooks, reject_output, settled
from streams.worker.agents.erasure import register_erasure
from streams.worker.agents.identity import register_identity
from streams.worker.agents.ingest import register_ingest_agents
from streams.worker.agents.watchdog import register_watchdog
from streams.worker.commits import CommitSensor
from streams.worker.context import WorkerContext
from streams.worker.fetch_wait import set_fetch_max_wait
from streams.worker.metrics import Metrics
from streams.worker.positions import register_positions
from streams.worker.tables import directory_table, people_table, roster_table, state_table
from streams.worker.view_sync import register_view_sync
from streams.worker.web import register_web
from streams.worker.web_guard import Middleware, allowed_hosts, guard
from streams.worker.write_behind import TableStore, WriteBehind

__all__ = ["consumer_config", "create_app", "producer_config"]

log = logging.getLogger(__name__)


def quiet_client_loggers() -> None:
    """aiokafka and faust format debug lines on every send: ~10% CPU if left permissive."""
    for name in ("aiokafka", "faust", "mode"):
        logging.getLogger(name).setLevel(logging.WARNING)


def consumer_config(settings: Settings) -> dict[str, Any]:
    """How a worker's Faust app reaches the broker and consumes its topics (and the fetch
    wait faust hard-codes, set for every consumer this process creates from now on).
    The benchmark's faust peers take the same, so they are compared at equal settings."""
    set_fetch_max_wait(settings.fetch_max_wait_ms)
    return {
        "broker": settings.kafka_broker,
        "broker_credentials": faust_credentials(settings),
        "autodiscover": False,
        "topic_partitions": settings.partitions,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.heartbeat_interval_s,
        "broker_max_poll_records": 500,
        "consumer_auto_offset_reset": "earliest",
    }


def producer_config(settings: Settings) -> dict[str, Any]:
    """How a worker's Faust app batches what it sends (changelogs, outputs, ticks): 20 ms
    of linger and the configured batch size. The benchmark's faust peers take the same,
    so none of them is rated on faust's default batching against the worker's."""
    return {
        "producer_linger": 0.02,
        "producer_max_batch_size": settings.producer_max_batch_bytes,
        "producer_max_request_size": TOPIC_MAX_MESSAGE_BYTES,
    }


def web_guard(settings: Settings) -> Middleware:
    """The middleware that checks each request's Host and, where set, its token."""
    token = settings.web_token.get_secret_value() if settings.web_token else None
    return guard(allowed_hosts(settings.web_allowed_hosts, settings.web_host), token)


def create_app(settings: Settings) -> tuple[faust.App, WorkerContext]:
    app = faust.App(
        settings.app_id,
        **consumer_config(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        processing_guarantee="at_least_once",
        topic_replication_factor=settings.replicas,
        topic_allow_declare=True,
        **producer_config(settings),
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        # faust's own pages would serve any table whole (/table/rosters/... names people)
        # and the app's internals: only ours are served.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_application_options={"middlewares": [web_guard(settings)]},
    )

    def raw_topic(name: str) -> faust.TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    accounts = state_table(app, ACCOUNTS_TABLE, settings)
    campaigns = state_table(app, CAMPAIGNS_TABLE, settings)
    rosters = roster_table(app, ROSTERS_TABLE, settings)
    people = people_table(app, PEOPLE_TABLE, settings)
    directory = directory_table(app, DIRECTORY_TABLE, settings)
    crash = CrashPoints(settings.crash_at)
    if crash.point == "committed":  # unarmed, faust's commits are not watched at all
        app.sensors.add(CommitSensor(crash))
    metrics = Metrics(list(InputKind))
    states = WriteBehind(
        [accounts, campaigns, rosters, people, directory],
        settings.state_flush_max_events,
        crash,
        metrics.shed,
    )
    store = TableStore(states, accounts, campaigns, rosters)
    stream_time: dict[int, int] = {}
    topics = settings.topics
    view: ViewWriter = NoView()
    if settings.worker_view:
        view = RedisView(
            settings,
            settings.rules,
            load=lambda account_id: states.get(accounts, account_id),
            clocks=stream_time,
            rosters=store.rosters,
        )

    def done(route: str, item: Delivery) -> None:
        settled(context, route, item)

    def give_up(route: str) -> GiveUp:
        async def dead_letter(item: Delivery, reason: DeadLetterReason, error: str) -> None:
            await reject_output(context, item, reason, error, route)

        return dead_letter

    context = WorkerContext(
        app=app,
        settings=settings,
        inputs={kind: raw_topic(getattr(topics, kind)) for kind in InputKind},
        tier_changes=raw_topic(topics.tier_changes),
        stage_changes=raw_topic(topics.stage_changes),
        surge_alerts=raw_topic(topics.surge_alerts),
        alert_outcomes=raw_topic(topics.alert_outcomes),
        dead_letter=raw_topic(topics.dead_letter),
        clock=raw_topic(topics.clock),
        erasure=raw_topic(topics.erasure),
        segment_calls=raw_topic(topics.segment),
        people_calls=raw_topic(topics.people),
        lookups=raw_topic(topics.directory),
        unmatched=raw_topic(topics.unmatched),
        accounts=accounts,
        campaigns=campaigns,
        rosters=rosters,
        people=people,
        directory=directory,
        states=states,
        store=store,
        view=view,
        redis=async_redis(settings, socket_timeout=5),
        keys=RedisKeys(settings.redis_prefix),
        metrics=metrics,
        webhooks=[
            WebhookSink(settings.webhook, give_up(route.name), route, key, done)
            for route, key in route_keys(settings)
        ],
        stream_time=stream_time,
        crash=crash,
    )
    app.task(lambda: states.run(settings.state_flush_interval_s))
    register_ingest_agents(context)
    register_clock(context)
    register_erasure(context)
    register_identity(context)
    register_view_sync(context)
    register_positions(context)
    register_webhooks(context)
    register_web(context)
    register_dashboard(app, settings, context.redis)
    register_watchdog(context)
    return app, context
