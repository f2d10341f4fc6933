"""The worker a benchmark starts: its own group, changelogs and Redis keys over the shared
input topics, batching its produce requests as in production."""

from streams.config import Settings
from streams.dev.embedded import EmbeddedStack, free_port

__all__ = ["worker_env"]


def worker_env(stack: EmbeddedStack, settings: Settings, app_id: str) -> dict[str, str]:
    """A worker of its own (group, changelogs, Redis keys) over the shared input topics."""
    return {
        **stack.env(),
        "ABM_APP_ID": app_id,
        "ABM_TOPICS": settings.topics.model_dump_json(),
        "ABM_REDIS_PREFIX": f"{app_id}:",
        "ABM_WEB_PORT": str(free_port()),
        "ABM_SESSION_TIMEOUT_S": "6",
        "ABM_HEARTBEAT_INTERVAL_S": "1",
        "ABM_LOG_LEVEL": "warning",
        # The production batch size: the stack's one-record batches (right changelog ends
        # for recovery on the embedded broker) cost a quarter of the rate, and no worker
        # here recovers a partition from another.
        "ABM_PRODUCER_MAX_BATCH_BYTES": str(Settings().producer_max_batch_bytes),
    }
