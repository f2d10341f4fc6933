"""Creating the topics up front, with the partition count the co-partitioned agents rely on."""

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.clients.kafka import client_options, started
from streams.config import Settings

__all__ = ["TOPIC_MAX_MESSAGE_BYTES", "ensure_topics", "topic_configs"]

log = logging.getLogger(__name__)

TOPIC_MAX_MESSAGE_BYTES = 1_048_588
"""The largest record batch a topic takes: Kafka's default, set on every topic created, so
a broker whose default is lower still takes every record the engine writes (at most
RECORD_MAX_BYTES of value, plus its key and framing). The worker's producer takes the
same."""


def topic_configs(settings: Settings, name: str) -> dict[str, str]:
    """The configs a topic is created with: compacted where only a key's latest record
    matters, with compaction due within `compaction_max_lag_days`."""
    configs = {"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)}
    if name in {*settings.topics.compacted(), *settings.changelogs()}:
        configs["cleanup.policy"] = "compact"
        configs["max.compaction.lag.ms"] = str(int(settings.compaction_max_lag_days * 86_400_000))
    return configs


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Create any missing topic (of `names`, default all the pipeline's); return the names
    created.

    Every input, output and internal topic gets the same partition count: the account
    table's changelog must line up partition for partition with the inputs. The
    profiles and rosters topics are compacted, as only an account's latest one matters,
    and so are the tables' changelogs (faust would create them so; `abm view` may come
    first). Topics that exist are left as they are: `docs/operations.md` says what to set.
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await started(admin)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.partitions,
                replication_factor=settings.replicas,
                topic_configs=topic_configs(settings, name),
            )
            for name in (settings.topics.all() if names is None else names)
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                log.info("topics were created concurrently by another process")
        return [t.name for t in wanted]
    finally:
        await admin.close()
