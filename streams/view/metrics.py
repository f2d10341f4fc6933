"""What a view process reports on /metrics: what it read and wrote, how late, and how far
Redis holds each changelog partition."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ViewMetrics"]

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)


class ViewMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter(
            "abm_view_records",
            "Records read, by source: accounts, campaigns, rosters (changelogs), alerts, "
            "changes, erasures (topics)",
            ["source"],
            registry=self.registry,
        )
        self.written = Counter(
            "abm_view_written",
            "Account state records whose account is written to Redis",
            registry=self.registry,
        )
        self.lag = Histogram(
            "abm_view_lag_seconds",
            "From a state's changelog record to its account written to Redis (records "
            "stored before this process last began reading the changelogs left out)",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.catching_up = Gauge(
            "abm_view_catching_up",
            "Changelog partitions still being read to their end (no account is written meanwhile)",
            registry=self.registry,
        )
        self.flushes = Counter(
            "abm_view_flushes", "View flushes that wrote everything", registry=self.registry
        )
        self.written_offset = Gauge(
            "abm_view_written_offset",
            "Per changelog partition, the offset below which every record is in Redis "
            "(accounts written and the KPIs published); unset while it is read again, or Redis "
            "failed. The changelog's end minus this is the view's backlog in records",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.unreadable = Counter(
            "abm_view_unreadable_records",
            "Records skipped because they could not be read (logged with their offset), by source",
            ["source"],
            registry=self.registry,
        )
        self.flush_errors = Counter(
            "abm_view_flush_errors",
            "Flushes that failed unexpectedly (logged; tried again at the next round, and "
            "/ready is false until one succeeds)",
            registry=self.registry,
        )
        self.tier_accounts = Gauge(
            "abm_tier_accounts",
            "Accounts per tier in the view's partitions",
            ["tier"],
            registry=self.registry,
        )

    def show_tiers(self, counts: dict[int, int]) -> None:
        """Set at each scrape: a tier no account holds any more leaves the metric."""
        self.tier_accounts.clear()
        for tier, count in sorted(counts.items()):
            self.tier_accounts.labels(str(tier)).set(count)
