"""The Redis materialised view of account state: batched, absolute, and re-synced after outages.

Agents only mark an account dirty (a dict assignment); a timer turns the dirty set into
one pipelined batch of whole-hash writes. Redis round-trips never sit in the per-event
path, a failed batch is put back (newer marks win), and rewriting a hash is harmless.
"""

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from streams.config import Rules, Settings
from streams.logic.state import AccountState
from streams.logic.views import account_snapshot

__all__ = ["RedisView"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


class RedisView:
    def __init__(self, settings: Settings, rules: Rules) -> None:
        self.redis: Redis = Redis.from_url(settings.redis_url, socket_timeout=5)
        self.prefix = settings.redis_prefix
        self.rules = rules
        self.dirty: dict[str, AccountState] = {}
        self.errors = 0
        self._backoff_s = 0.0
        self._retry_at = 0.0

    def mark(self, state: AccountState) -> None:
        self.dirty[state.account_id] = state

    def mark_all(self, states: list[AccountState]) -> None:
        for state in states:
            self.dirty[state.account_id] = state

    def account_key(self, account_id: str) -> str:
        return f"{self.prefix}account:{account_id}"

    async def flush(self, max_batch: int = 5000) -> int:
        """Write up to `max_batch` dirty snapshots in one pipeline; return how many."""
        if not self.dirty or time.monotonic() < self._retry_at:
            return 0
        ids = list(self.dirty)[:max_batch]
        batch = {i: self.dirty.pop(i) for i in ids}
        pipe = self.redis.pipeline(transaction=False)
        for account_id, state in batch.items():
            pipe.hset(self.account_key(account_id), mapping=account_snapshot(state, self.rules))
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self.errors += 1
            self._backoff_s = min(MAX_BACKOFF_S, max(0.5, self._backoff_s * 2))
            self._retry_at = time.monotonic() + self._backoff_s
            for account_id, state in batch.items():
                self.dirty.setdefault(account_id, state)
            log.warning(
                "redis write of %d accounts failed (%s); retrying in %.1fs",
                len(batch),
                exc,
                self._backoff_s,
            )
            return 0
        self._backoff_s = 0.0
        return len(batch)

    async def close(self) -> None:
        await self.redis.aclose()
