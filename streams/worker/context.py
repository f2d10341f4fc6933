"""What every agent shares: settings, topics, the account table, the Redis view, stream time."""

from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP

from streams.config import Settings
from streams.logic.partition_status import Sample
from streams.logic.rules import Rules
from streams.logic.state import AccountState
from streams.sinks.redis_view import RedisView
from streams.sinks.webhook import WebhookSink
from streams.worker.metrics import Metrics
from streams.worker.write_behind import WriteBehind

__all__ = ["Pipeline"]


@dataclass
class Pipeline:
    """The wiring of one worker, built once by `create_app` and handed to each agent."""

    app: faust.App
    settings: Settings
    inputs: dict[str, Any]
    tier_changes: Any
    surge_alerts: Any
    dead_letter: Any
    clock: Any
    accounts: Any
    campaigns: Any
    states: WriteBehind
    """Reads and writes of both tables go through it (see write_behind)."""
    view: RedisView
    metrics: Metrics
    webhook: WebhookSink | None = None
    delivered: set[str] = field(default_factory=set)
    """Ids of outbox entries the broker has acknowledged: trimmed at the account's next write."""
    due: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    """Account -> (due_at, partition) of every account the staleness timer must look at:
    it reads this, not the table (a RocksDB table would be deserialized whole each tick)."""
    stream_time: dict[int, int] = field(default_factory=dict)
    """Newest event time applied per partition: 'now' for the timer in event-clock mode."""
    read_to: dict[TP, int] = field(default_factory=dict)
    """Highest input offset read per topic-partition in this run (see agents/watchdog)."""
    progress: dict[TP, Sample] = field(default_factory=dict)
    """The watchdog's last (next offset to read, high-water mark) per owned input partition."""

    @property
    def rules(self) -> Rules:
        return self.settings.rules

    def track_due(self, state: AccountState) -> None:
        if state.due_at is None:
            self.due.pop(state.account_id, None)
        else:
            self.due[state.account_id] = (state.due_at, state.partition)

    def advance(self, partition: int, at: int) -> None:
        if at > self.stream_time.get(partition, 0):
            self.stream_time[partition] = at
