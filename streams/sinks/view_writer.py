"""What a worker writes besides Kafka: the Redis view of its accounts, their alerts,
tier changes and KPI partials.

Two writers keep the promise. `RedisView` (redis_view.py) writes it, in a worker run with
`--with-view` and in each `abm view` process. `NoView` is the worker's when view
processes keep Redis (the default): it holds no Redis client, so nothing the worker asks
of it can reach Redis, however many methods the protocol grows. The worker's own Redis
needs (erasure outcomes, its pages) go through a client of its own.
"""

from typing import Protocol

from schemas.outputs import SurgeAlert, TierChange
from streams.logic.state.erasure import Erased
from streams.logic.state.state import AccountState

__all__ = ["NoView", "ViewWriter"]


class ViewWriter(Protocol):
    errors: int
    """Failed writes so far (the worker's metrics report them)."""
    lost: bool
    """Redis no longer holds the view (it restarted empty): the owner must re-sync."""

    def mark(self, state: AccountState) -> None:
        """The account changed: rewrite it at the next flush."""

    def mark_id(self, account_id: str) -> None:
        """Rewrite an account whose state is read at the flush."""

    def mark_campaign(self, state: AccountState) -> None:
        """Spend not tied to an account changed: it counts in the KPIs."""

    def alert(self, alert: SurgeAlert) -> None: ...

    def change(self, change: TierChange) -> None: ...

    def remove(self, account_id: str, partition: int | None) -> None:
        """The account is gone: delete it from the view and withdraw its KPIs."""

    async def erase(self, account_id: str, erased: Erased | None) -> int:
        """Delete what the view holds of an account (or one of its contacts) now; return
        how many entries went."""
        ...

    def recount(self, partitions: list[int]) -> None:
        """The KPI partials are counted again from the states of these partitions."""

    def due(self, now: float) -> bool:
        """Whether the timer's round should write the view now."""
        ...

    async def flush_all(self) -> None: ...

    async def publish_kpis(self, min_interval_s: float) -> None: ...

    def tier_accounts(self) -> dict[int, int]:
        """Accounts per tier over the owned partitions, as counted for the KPIs."""
        ...


class NoView:
    """The writer of a worker whose view `abm view` processes keep: it keeps and writes
    nothing (erasures included: the view process applies them and confirms, fenced like
    its other writes)."""

    errors = 0
    lost = False

    def mark(self, state: AccountState) -> None:
        pass

    def mark_id(self, account_id: str) -> None:
        pass

    def mark_campaign(self, state: AccountState) -> None:
        pass

    def alert(self, alert: SurgeAlert) -> None:
        pass

    def change(self, change: TierChange) -> None:
        pass

    def remove(self, account_id: str, partition: int | None) -> None:
        pass

    async def erase(self, account_id: str, erased: Erased | None) -> int:
        return 0

    def recount(self, partitions: list[int]) -> None:
        pass

    def due(self, now: float) -> bool:
        return False

    async def flush_all(self) -> None:
        pass

    async def publish_kpis(self, min_interval_s: float) -> None:
        pass

    def tier_accounts(self) -> dict[int, int]:
        return {}
