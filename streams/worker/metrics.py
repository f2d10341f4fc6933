"""The worker's Prometheus metrics: what came in and how it ended, what went out, errors.

Counters are bound to their labels once (a label lookup per event costs more than the
increment), so the live path pays one `inc()` per outcome.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from schemas.outputs import DeadLetterReason
from streams.logic.identity.match import Method, Why
from streams.logic.rules import Limits
from streams.logic.state.bounds import SHEDDABLE, UNSTORED
from streams.sinks.webhook import DeliveryStats

__all__ = ["InputSpan", "Live", "Metrics"]

OUTCOMES = ("applied", "duplicate", "dead_letter")
IDENTITY_OUTCOMES = (
    *(f"matched_{method}" for method in Method),
    *(f"unmatched_{why}" for why in Why),
    "waiting",
    "dropped",
    "unmapped",
    "dead_letter",
)
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)


@dataclass
class Live:
    """Figures read from the worker's state when scraped (nothing to update per event)."""

    consumer_lag: dict[tuple[str, int], int] = field(default_factory=dict)
    event_time_lag_s: dict[int, float] = field(default_factory=dict)
    tier_accounts: dict[int, int] = field(default_factory=dict)
    redis_write_errors: int = 0
    routes: dict[str, tuple[DeliveryStats, int]] = field(default_factory=dict)
    """Per route: its delivery counts and how many alerts wait in its queue."""
    ready: bool = False
    """What /ready answers: partitions assigned, recovery done, not rebalancing."""


class InputSpan:
    """When the worker began its first input record and finished its latest (perf_counter).

    A benchmark rates the worker on its own clock, from its first event to its last, as
    the contenders it is compared with time themselves: a rate timed from outside would
    also hold the scraper's polling interval and whatever follows the last event."""

    __slots__ = ("first", "last")

    def __init__(self) -> None:
        self.first = 0.0
        self.last = 0.0

    def seconds(self) -> float:
        return max(0.0, self.last - self.first)  # 0 until the first record is done


class _LiveCollector(Collector):
    def __init__(self, read: Callable[[], Live]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        live = self.read()
        lag = GaugeMetricFamily(
            "abm_consumer_lag",
            "Records waiting per owned partition (inputs, the clock, erasure requests, account "
            "matching's topics), from the consumer's latest fetch; a partition no worker "
            "reports is owned by none",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(live.consumer_lag.items()):
            lag.add_metric([topic, str(partition)], value)
        event_lag = GaugeMetricFamily(
            "abm_event_time_lag_seconds",
            "Wall clock minus the newest event time applied, per owned partition",
            labels=["partition"],
        )
        for partition, seconds in sorted(live.event_time_lag_s.items()):
            event_lag.add_metric([str(partition)], seconds)
        tiers = GaugeMetricFamily(
            "abm_tier_accounts",
            "Accounts per tier in the worker's partitions, while it keeps the Redis view "
            "(--with-view; else the view process reports it)",
            labels=["tier"],
        )
        for tier, count in sorted(live.tier_accounts.items()):
            tiers.add_metric([str(tier)], count)
        errors = CounterMetricFamily(
            "abm_redis_write_errors", "Redis view writes that failed (and were retried)"
        )
        errors.add_metric([], live.redis_write_errors)
        ready = GaugeMetricFamily(
            "abm_worker_ready",
            "1 while /ready answers 200 (partitions assigned, recovery done, not "
            "rebalancing), else 0",
            value=1 if live.ready else 0,
        )
        yield from (lag, event_lag, tiers, errors, ready, *_route_metrics(live.routes))


def _route_metrics(routes: dict[str, tuple[DeliveryStats, int]]) -> Iterator[Metric]:
    deliveries = CounterMetricFamily(
        "abm_route_deliveries",
        "Alerts per route by outcome: sent, retried (attempts after the first), failed "
        "(dead-lettered after the last attempt or at shutdown), dropped (queue full, "
        "dead-lettered), skipped (too old to post: history being loaded)",
        labels=["route", "outcome"],
    )
    depth = GaugeMetricFamily(
        "abm_route_queue_depth", "Alerts waiting in a route's queue", labels=["route"]
    )
    for name, (stats, waiting) in sorted(routes.items()):
        for outcome, value in (
            ("sent", stats.delivered),
            ("retried", stats.retries),
            ("failed", stats.failed),
            ("dropped", stats.overflowed),
            ("skipped", stats.too_old),
        ):
            deliveries.add_metric([name, outcome], value)
        depth.add_metric([name], waiting)
    yield from (deliveries, depth)


class Metrics:
    """One registry per worker (tests run several apps in one process)."""

    def __init__(self, input_kinds: list[str]) -> None:
        self.registry = CollectorRegistry()
        self.processing = Histogram(
            "abm_processing_seconds",
            "Time to decode, apply and store one input record",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.redis_flush = Histogram(
            "abm_redis_flush_seconds",
            "Time of one Redis view flush (a pipeline of every dirty account)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        events = Counter(
            "abm_events",
            "Input records by kind (engagement, intent, deals, accounts, spend, contacts, "
            "sales_activities) and "
            "outcome (applied, duplicate, dead_letter)",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.events = {(k, o): events.labels(k, o) for k in input_kinds for o in OUTCOMES}
        outputs = Counter(
            "abm_outputs",
            "Records published: tier_change, stage_change, surge_alert, alert_outcome, dead_letter",
            ["output"],
            registry=self.registry,
        )
        kinds = ("tier_change", "stage_change", "surge_alert", "alert_outcome", "dead_letter")
        self.outputs = {o: outputs.labels(o) for o in kinds}
        dead = Counter(
            "abm_dead_letters",
            "Dead letters by reason (docs/topics.md, Dead letters)",
            ["reason"],
            registry=self.registry,
        )
        self.dead_letters = {r: dead.labels(r.value) for r in DeadLetterReason}
        self.ticks = Counter(
            "abm_ticks",
            "Ticks applied: accounts re-tiered because time passed (a window dropped data), "
            "not because an event came; work abm_events_total does not count",
            registry=self.registry,
        )
        self.task_errors = Counter(
            "abm_task_errors",
            "Rounds of a worker's timer that failed (logged; the timer runs again): "
            "tick-due-accounts, flush-redis-view, forget-idle-people",
            ["task"],
            registry=self.registry,
        )
        self.ids_evicted = Counter(
            "abm_dedup_ids_evicted",
            "Event ids forgotten before their 7 days, to keep a hot account's state record "
            "bounded: a source sending one of those events again, at another offset, would "
            "have it counted twice",
            registry=self.registry,
        )
        self.dead_letters_lost = Counter(
            "abm_dead_letters_lost",
            "Records that could be neither applied nor dead-lettered (the send failed): "
            "skipped, each with an error in the log naming its offset, length and SHA-256",
            registry=self.registry,
        )

        limited = Counter(
            "abm_account_limits",
            "Events that met one of rules.limits (intent_topics, intent_providers, "
            "opportunities, campaigns): the stalest held was dropped to make room, or the "
            "event was kept from its campaign (docs/rules.md, limits)",
            ["limit"],
            registry=self.registry,
        )
        self.limited = {name: limited.labels(name) for name in Limits.model_fields}
        shed = Counter(
            "abm_state_shed",
            "Account records that outgrew their bound and shed to fit, by what gave way "
            "(seen, campaign_contacts, contacts), or unstored: still too large, not stored "
            "(docs/operations.md, Record sizes)",
            ["part"],
            registry=self.registry,
        )
        self._shed = {part: shed.labels(part) for part in (*SHEDDABLE, UNSTORED)}
        identity = Counter(
            "abm_identity",
            "Segment calls and their events, by what account matching made of them: "
            "matched_{account_id,contact,group,domain}; unmatched_{free_mail,unknown_domain,"
            "no_identity}; waiting (kept until the person identifies), dropped (let go "
            "unmatched: too old, or too many waiting), unmapped (a track name the mapping "
            "lacks: ignored), dead_letter",
            ["outcome"],
            registry=self.registry,
        )
        self.identity = {outcome: identity.labels(outcome) for outcome in IDENTITY_OUTCOMES}
        self.input_span = InputSpan()
        Gauge(
            "abm_input_span_seconds",
            "Seconds from the start of the first input record this worker handled to the end "
            "of its latest (stored or held for the next state flush): with abm_events_total, "
            "its rate over the records it has had",
            registry=self.registry,
        ).set_function(self.input_span.seconds)

    def shed(self, parts: list[str]) -> None:
        for part in parts:
            self._shed[part].inc()

    def watch(self, live: Callable[[], Live]) -> None:
        """Serve the figures `live()` reads at every scrape."""
        self.registry.register(_LiveCollector(live))

    def render(self) -> bytes:
        return generate_latest(self.registry)
