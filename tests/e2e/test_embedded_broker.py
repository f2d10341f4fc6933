"""The embedded broker's list-offsets answer, with the producer settings the stack gives
workers: it must be the log's end, or a worker recovering a changelog stops short of it
(a two-worker handover lost the last state records before the stack set them)."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.clients.kafka import client_options
from tests.harness import pipeline_settings

RECORDS = 500


async def ends(settings, max_batch_bytes: int) -> tuple[int, int]:
    """(end_offsets, records fetched) of a partition after batched produce."""
    producer = AIOKafkaProducer(
        **client_options(settings), linger_ms=20, max_batch_size=max_batch_bytes
    )
    await producer.start()
    tp = TopicPartition(settings.topics.engagement, 0)
    try:
        for n in range(RECORDS):
            await producer.send(tp.topic, b"{}", key=b"k", partition=0)
            if n % 97 == 0:
                await producer.flush()
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        fetched = 0
        while batch := await consumer.getmany(tp, timeout_ms=500):
            fetched += len(batch[tp])
        return end, fetched
    finally:
        await consumer.stop()


def test_with_the_stacks_batch_size_the_log_end_is_right(stack):
    settings, _ = pipeline_settings(stack)
    stack_batch = int(stack.env()["ABM_PRODUCER_MAX_BATCH_BYTES"])
    assert asyncio.run(ends(settings, stack_batch)) == (RECORDS, RECORDS)


def test_with_batches_of_many_records_the_embedded_broker_reports_less(stack):
    """Why the stack sets it: the answer is the base of the last batch. (If this starts
    failing, the broker was fixed and the setting can go.)"""
    settings, _ = pipeline_settings(stack)
    end, fetched = asyncio.run(ends(settings, 16_384))
    assert fetched == RECORDS
    assert end < RECORDS
