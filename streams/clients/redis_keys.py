"""The Redis key layout, in one place: the view's writers and every reader (dashboard,
`abm account`, `abm kpis`, replay's --publish) name keys only through it.

The layout is a public contract (dashboards and teams' scripts read these keys), so a key
is spelt once. Every key starts with the configured prefix (`abm:` by default), which is
also how a replay publishes beside the live view without touching it.
"""

from dataclasses import dataclass

__all__ = ["ERASURE_TTL_S", "RedisKeys"]

ERASURE_TTL_S = 7 * 86_400
"""How long an erasure's outcome, and the view's word that it applied it, are kept."""


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str

    def account(self, account_id: str) -> str:
        """Hash: the account's snapshot (logic/snapshot.py)."""
        return f"{self.prefix}account:{account_id}"

    def alert_seen(self, alert_id: str) -> str:
        """Marker that an alert entered the stream (it enters once per alert_id)."""
        return f"{self.prefix}alert:{alert_id}"

    @property
    def alerts(self) -> str:
        """Capped stream of recent surge alerts."""
        return f"{self.prefix}alerts"

    @property
    def changes(self) -> str:
        """Capped stream of recent tier changes (the dashboard's)."""
        return f"{self.prefix}changes"

    @property
    def surge_rank(self) -> str:
        """Sorted set: accounts surging now, by strength (1.0 = at the enter threshold)."""
        return f"{self.prefix}rank:surge"

    @property
    def engagement_rank(self) -> str:
        """Sorted set: accounts by engagement points in the engagement window."""
        return f"{self.prefix}rank:engagement"

    def erasure(self, request_id: str) -> str:
        """String: an erasure request's outcome (no ids in it), for `abm forget` to wait on."""
        return f"{self.prefix}erasure:{request_id}"

    def erasure_viewed(self, request_id: str) -> str:
        """String: set by the view process once Redis holds nothing the request erased."""
        return f"{self.prefix}erasure:{request_id}:view"

    @property
    def sentinel(self) -> str:
        """Set by every view flush: missing means Redis lost the view (restarted empty)."""
        return f"{self.prefix}view:alive"

    @property
    def kpi(self) -> str:
        """Hash: the KPIs over all accounts."""
        return f"{self.prefix}kpi"

    @property
    def kpi_targets(self) -> str:
        """Hash: the KPIs of the target accounts (tiers 1-3 together)."""
        return f"{self.prefix}kpi:targets"

    @property
    def kpi_campaigns(self) -> str:
        """Hash: campaign id -> its figures (JSON)."""
        return f"{self.prefix}kpi:campaigns"

    def kpi_tier(self, tier: int | str) -> str:
        return f"{self.prefix}kpi:tier:{tier}"

    def kpi_daily(self, day: str) -> str:
        return f"{self.prefix}kpi:daily:{day}"

    @property
    def kpi_all(self) -> str:
        """Pattern matching every KPI key (a replay's publish replaces them whole)."""
        return f"{self.prefix}kpi*"

    def kpi_partial(self, partition: int) -> str:
        """Hash: one partition's KPI counters, the source every KPI hash is summed from."""
        return f"{self.prefix}kpi:part:{partition}"

    @property
    def kpi_clock(self) -> str:
        """Hash: partition -> newest event time applied there."""
        return f"{self.prefix}kpi:clock"

    @property
    def kpi_owner(self) -> str:
        """Hash: partition -> the fencing epoch of its current owner."""
        return f"{self.prefix}kpi:owner"

    @property
    def kpi_epoch(self) -> str:
        """Counter the fencing epochs are drawn from."""
        return f"{self.prefix}kpi:epoch"

    @property
    def tiers(self) -> str:
        """Hash: account -> [tier, rule] (written by a replay's --publish)."""
        return f"{self.prefix}tiers"
