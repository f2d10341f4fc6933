"""What one worker's agents, timers and pages share, built whole by `create_app`.

Each mutable piece is owned by the module that changes it: the write-behind (states), the
view (what Redis must be told), emit (which outputs the broker acknowledged), the clock
agent and emit (the due index, stream time), the watchdog (read positions).
"""

from dataclasses import dataclass, field

import faust
from faust.types import TP, TableT, TopicT
from redis.asyncio import Redis

from streams.clients.redis_keys import RedisKeys
from streams.config import Settings
from streams.crash_points import CrashPoints
from streams.logic.inputs.decode import InputKind
from streams.logic.rules import Rules
from streams.logic.state.ticks import Due
from streams.sinks.view_writer import ViewWriter
from streams.sinks.webhook import WebhookSink
from streams.worker.metrics import Metrics
from streams.worker.write_behind import TableStore, WriteBehind

__all__ = ["Delivered", "WorkerContext"]


class Delivered:
    """Ids of outbox entries the broker has acknowledged, trimmed from an account's outbox
    at its next write. Bounded: when full it forgets everything, and the worst case is an
    entry re-sent once more (consumers drop repeats by version and alert_id)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.ids: set[str] = set()

    def add(self, entry_id: str) -> None:
        if len(self.ids) >= self.limit:
            self.ids.clear()
        self.ids.add(entry_id)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.ids


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """The wiring of one worker, handed to each agent, timer and page."""

    app: faust.App
    settings: Settings
    inputs: dict[InputKind, TopicT]
    """Input kind (engagement, intent, ...) -> its raw topic."""
    tier_changes: TopicT
    stage_changes: TopicT
    surge_alerts: TopicT
    alert_outcomes: TopicT
    dead_letter: TopicT
    clock: TopicT
    erasure: TopicT
    segment_calls: TopicT
    """Raw Segment calls (abm.segment.v1)."""
    people_calls: TopicT
    """Segment calls re-keyed by person (abm.people.v1)."""
    lookups: TopicT
    """The directory's lookups and changes (abm.directory.v1)."""
    unmatched: TopicT
    accounts: TableT
    campaigns: TableT
    """Spend without an account_id, keyed by campaign: it counts in overall ROI only."""
    rosters: TableT
    """Each account's latest contact roster (logic/roster.py)."""
    people: TableT
    """What is known of each person (logic/identity/people.py)."""
    directory: TableT
    """The account each domain, contact and account id names (logic/identity/directory.py)."""
    states: WriteBehind
    """Reads and writes of the tables go through it (see write_behind)."""
    store: TableStore
    """The tables as the decisions read them (`store.rosters`: every roster)."""
    view: ViewWriter
    """The Redis view, or nothing where `abm view` processes keep it (sinks/view_writer)."""
    redis: Redis
    """The worker's own client: erasure outcomes, and its pages' reads of the view."""
    keys: RedisKeys
    metrics: Metrics
    webhooks: list[WebhookSink]
    """One per route (`[[routes]]`, and ABM_WEBHOOK__URL's default route)."""
    stream_time: dict[int, int]
    """Newest event time applied per partition: 'now' for the timer in event-clock mode
    (shared with the KPI view, which publishes it as the KPIs' clock)."""
    crash: CrashPoints
    """Where a crash test kills this worker (crash_points.py); unarmed in production."""
    delivered: Delivered = field(default_factory=Delivered)
    due: dict[str, Due] = field(default_factory=dict)
    """Account -> (due_at, partition) of every account the staleness timer must look at."""
    read_to: dict[TP, int] = field(default_factory=dict)
    """Highest input offset read per topic-partition in this run (see agents/watchdog)."""

    @property
    def rules(self) -> Rules:
        return self.settings.rules
