"""Creating the topics up front, with the partition count the co-partitioned agents rely on."""

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.clients.kafka import client_options, started
from streams.config import Settings

__all__ = ["ensure_topics"]

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Create any missing topic (of `names`, default all the pipeline's); return the names
    created.

    Every input, output and internal topic gets the same partition count: the account
    table's changelog must line up partition for partition with the inputs. The
    profiles and rosters topics are compacted, as only an account's latest one matters,
    and so are the tables' changelogs (faust would create them so; `abm view` may come
    first).
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await started(admin)
    try:
        existing = set(await admin.list_topics())
        compacted = {*settings.topics.compacted(), *settings.changelogs()}
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.partitions,
                replication_factor=settings.replicas,
                topic_configs=({"cleanup.policy": "compact"} if name in compacted else {}),
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
