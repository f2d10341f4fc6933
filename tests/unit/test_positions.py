"""The seek to committed offsets runs with faust's flow stopped (streams/worker/positions.py)."""

import asyncio

import pytest

from streams.worker.positions import extend_seek


class FakeConsumer:
    """What extend_seek touches of faust's consumer; records the flow at each seek step."""

    def __init__(self, flowing: bool) -> None:
        self.flow_active = flowing
        self.seen: list[tuple[str, bool]] = []

    def stop_flow(self) -> None:
        self.flow_active = False

    def resume_flow(self) -> None:
        self.flow_active = True

    async def perform_seek(self) -> None:
        await asyncio.sleep(0)
        self.seen.append(("committed", self.flow_active))


def extended(consumer: FakeConsumer) -> FakeConsumer:
    async def never_committed() -> None:
        await asyncio.sleep(0)
        consumer.seen.append(("never committed", consumer.flow_active))

    extend_seek(consumer, never_committed)
    return consumer


def test_a_running_flow_is_stopped_while_seeking_and_runs_again_after() -> None:
    consumer = extended(FakeConsumer(flowing=True))
    asyncio.run(consumer.perform_seek())
    assert consumer.seen == [("committed", False), ("never committed", False)]
    assert consumer.flow_active


def test_a_stopped_flow_stays_stopped() -> None:
    # faust's fetch loop seeks when a fetch returns while its flow is stopped (a
    # rebalance): the recovery, not the seek, starts the flow again
    consumer = extended(FakeConsumer(flowing=False))
    asyncio.run(consumer.perform_seek())
    assert consumer.seen == [("committed", False), ("never committed", False)]
    assert not consumer.flow_active


def test_a_failed_seek_leaves_the_flow_stopped() -> None:
    # records delivered from unknown positions could be lost; faust's next recovery
    # starts the flow again, or the worker stops
    consumer = FakeConsumer(flowing=True)

    async def failing() -> None:
        raise RuntimeError("broker gone")

    extend_seek(consumer, failing)
    with pytest.raises(RuntimeError):
        asyncio.run(consumer.perform_seek())
    assert not consumer.flow_active


def test_seeks_do_not_overlap() -> None:
    # the recovery's seek and the fetch loop's: the second starts once the first is done
    consumer = extended(FakeConsumer(flowing=True))

    async def both() -> None:
        await asyncio.gather(consumer.perform_seek(), consumer.perform_seek())

    asyncio.run(both())
    steps = [step for step, _ in consumer.seen]
    assert steps == ["committed", "never committed"] * 2
    assert all(not flowing for _, flowing in consumer.seen)
    assert consumer.flow_active


def test_extended_once() -> None:
    consumer = extended(FakeConsumer(flowing=True))
    first = consumer.perform_seek
    extended(consumer)
    assert consumer.perform_seek is first
    asyncio.run(consumer.perform_seek())
    assert len(consumer.seen) == 2
