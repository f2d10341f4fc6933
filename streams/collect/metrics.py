"""What `abm collect` reports on /metrics: requests by status, calls by outcome, how long
requests take, and how many calls await the broker.

Calls and requests are counted apart: one batch request carries hundreds of calls, and
what an operator watches is different for each (a 401 is a misconfigured site; a
refused call is a site sending something the workers cannot read)."""

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["OUTCOMES", "CollectMetrics"]

OUTCOMES = ("accepted", "refused", "throttled", "failed")
"""accepted: acknowledged by the broker and answered 200. refused: read_call or the size
limit refused it (never retried). throttled: its request was answered 429. failed: the
broker did not acknowledge it in time (503; retried by the sender)."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class CollectMetrics:
    def __init__(self, pending: Callable[[], float], failures: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "abm_collect_requests",
            "HTTP requests answered, by status code (200, 400, 401, 404, 413, 429, 503)",
            ["status"],
            registry=self.registry,
        )
        self.calls = Counter(
            "abm_collect_calls",
            "Segment calls received, by outcome: accepted (acknowledged by the broker), "
            "refused (unreadable or too large: never retried), throttled (429), failed (503)",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self.calls.labels(outcome)
        self.latency = Histogram(
            "abm_collect_request_seconds",
            "From a request's arrival to its answer, the broker's acknowledgement included",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pending = Gauge(
            "abm_collect_pending_calls",
            "Calls handed to the producer that the broker has not acknowledged yet",
            registry=self.registry,
        )
        self.pending.set_function(pending)
        self.registry.register(_Failures(failures))


class _Failures(Collector):
    """The sender's own count of failed sends, read when scraped."""

    def __init__(self, failures: Callable[[], float]) -> None:
        self.failures = failures

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "abm_collect_send_failures",
            "Calls the broker failed to take (their requests answered 503, unless an "
            "acknowledgement too slow had been answered 503 already)",
        )
        family.add_metric([], self.failures())
        yield family
