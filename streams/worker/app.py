"""Building the Faust app from settings: topics, the account table, agents, timers, web."""

import logging
import time

import faust
from redis.exceptions import RedisError

from schemas.outputs import DeadLetterReason, SurgeAlert
from streams.clients.kafka import faust_credentials
from streams.config import Settings
from streams.dashboard.pages import register_dashboard
from streams.logic.decode import INPUT_MODELS
from streams.logic.state import AccountState
from streams.sinks.redis_view import RedisView
from streams.sinks.webhook import WebhookSink
from streams.worker.agents.clock import register_clock
from streams.worker.agents.emit import reject_alert, resend_outboxes
from streams.worker.agents.ingest import register_ingest_agents
from streams.worker.agents.watchdog import register_watchdog
from streams.worker.context import Pipeline
from streams.worker.fetch_wait import set_fetch_max_wait
from streams.worker.metrics import Metrics
from streams.worker.tables import state_table
from streams.worker.web import register_web
from streams.worker.write_behind import WriteBehind

__all__ = ["create_app"]

log = logging.getLogger(__name__)

ACCOUNTS_TABLE = "accounts"
CAMPAIGNS_TABLE = "campaigns"
"""Spend without an account_id, keyed by campaign: it counts in overall ROI only."""


def quiet_client_loggers() -> None:
    """aiokafka and faust format debug lines on every send: ~10% CPU if left permissive."""
    for name in ("aiokafka", "faust", "mode"):
        logging.getLogger(name).setLevel(logging.WARNING)


def create_app(settings: Settings) -> tuple[faust.App, Pipeline]:
    set_fetch_max_wait(settings.fetch_max_wait_ms)
    app = faust.App(
        settings.app_id,
        broker=settings.kafka_broker,
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        processing_guarantee="at_least_once",
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replicas,
        topic_allow_declare=True,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_max_poll_records=500,
        producer_linger=0.02,
        producer_max_batch_size=settings.producer_max_batch_bytes,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
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
    topics = settings.topics
    pipeline = Pipeline(
        app=app,
        settings=settings,
        inputs={kind: raw_topic(getattr(topics, kind)) for kind in INPUT_MODELS},
        tier_changes=raw_topic(topics.tier_changes),
        surge_alerts=raw_topic(topics.surge_alerts),
        dead_letter=raw_topic(topics.dead_letter),
        clock=raw_topic(topics.clock),
        accounts=accounts,
        campaigns=campaigns,
        states=WriteBehind([accounts, campaigns], settings.state_flush_max_events),
        view=RedisView(settings, settings.rules),
        metrics=Metrics(list(INPUT_MODELS)),
    )
    pipeline.view.kpis.clocks = pipeline.stream_time
    pipeline.view.load = lambda account_id: pipeline.states.get(accounts, account_id)
    app.task(lambda: pipeline.states.run(settings.state_flush_interval_s))
    register_ingest_agents(pipeline)
    register_clock(pipeline)
    register_view_flush(pipeline)
    register_webhook(pipeline)
    register_web(pipeline)
    register_dashboard(pipeline)
    register_watchdog(pipeline)
    return app, pipeline


def register_webhook(p: Pipeline) -> None:
    """Senders start with the app; at shutdown (producer still up) the queue is drained."""
    if p.settings.webhook.url is None:
        return

    async def give_up(alert: SurgeAlert, reason: DeadLetterReason, error: str) -> None:
        await reject_alert(p, alert, reason, error)

    sink = p.webhook = WebhookSink(p.settings.webhook, give_up)
    p.app.task(sink.run)

    @p.app.on_before_shutdown.connect
    async def drain_webhook(app: faust.App, **kwargs: object) -> None:
        await sink.drain(grace_s=p.settings.webhook.timeout_s)


def owned_partitions(p: Pipeline) -> list[int]:
    """Partitions of the account table this worker owns (inputs are co-partitioned)."""
    topic = p.inputs["engagement"].get_topic_name()
    return sorted(tp.partition for tp in p.app.consumer.assignment() if tp.topic == topic)


def resync_view(p: Pipeline) -> list[AccountState]:
    """Mark every owned account and campaign for rewriting and recount the KPI partials
    from table state; return the accounts with outputs in their outbox.

    One pass over the table, keeping no state: the view loads each account again when it
    writes it (a RocksDB table of a million accounts would not fit in memory decoded).
    """
    p.view.kpis.reset(owned_partitions(p))
    p.due.clear()
    pending = []
    for state in p.accounts.values():
        if state is None:
            continue
        p.view.mark_id(state.account_id)
        p.track_due(state)
        if state.outbox:
            pending.append(state)
        if state.partition is not None:  # stream time survives restarts: it is in state
            p.advance(state.partition, state.clock)
    for state in p.campaigns.values():
        if state is not None:
            p.view.mark_campaign(state)
            if state.partition is not None:
                p.advance(state.partition, state.clock)
    return pending


def register_view_flush(p: Pipeline) -> None:
    """Flush dirty snapshots on a timer; after each rebalance, re-sync every owned account.

    The re-sync is what makes Redis a view: whatever a crash or outage left in it, the
    table state rewrites it whole once the worker owns its partitions again. Outputs a
    crash may have lost are re-sent from the recovered outboxes at the same moment: when
    recovery is complete and before the streams resume, once per consumer generation.
    """
    app = p.app
    synced_generation = [-1]

    @app.on_rebalance_complete.connect
    async def resync_after_rebalance(sender: faust.App, **kwargs: object) -> None:
        if synced_generation[0] == app.consumer_generation_id:
            return
        synced_generation[0] = app.consumer_generation_id
        if resent := await resend_outboxes(p, resync_view(p)):
            log.info("re-sent %d outputs recovered in outboxes", resent)

    @app.timer(interval=p.settings.redis_flush_interval_s, name="flush-redis-view")
    async def flush_redis_view() -> None:
        if p.view.lost:  # Redis came back empty: rewrite all of it
            p.view.lost = False
            resync_view(p)
        if p.view.due(time.monotonic()):
            with p.metrics.redis_flush.time():
                while await p.view.flush():
                    pass
        try:
            await p.view.kpis.publish(p.view.redis, p.settings.kpi_interval_s)
        except (RedisError, OSError) as exc:
            log.warning("publishing the KPI hashes failed (%s); retrying later", exc)
