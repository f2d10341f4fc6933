"""The view process's hand-over of the output topics at a rebalance (no broker: the
consumer is made, never started)."""

import asyncio

import orjson
from aiokafka.structs import ConsumerRecord, TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import Settings
from streams.logic.state.state import AccountState
from streams.view.process import ViewProcess
from tests.factories import DAY, T0, intent, profile, replay


def test_outputs_read_before_a_rebalance_are_left_to_their_next_owner():
    """Alerts and changes read since the last flush are not written after the partitions
    are revoked: their next owner reads them again from the committed offsets, and a
    change written by both would enter the stream twice."""
    _, changes, alerts = replay(
        [profile(), *(intent(at=T0 + d * DAY, score=95.0, event_id=f"i{d}") for d in range(30))]
    )
    assert changes
    assert alerts

    async def revoked() -> tuple[list, list]:
        process = ViewProcess(Settings())
        for change in changes:
            process.view.change(change)
        for alert in alerts:
            process.view.alert(alert)
        await process.on_partitions_revoked([])
        await process.view.close()
        await process.consumer.stop()
        return process.view.alerts, process.view.changes

    assert asyncio.run(revoked()) == ([], [])


SOURCES = ("accounts", "campaigns", "rosters", "erasures", "alerts", "changes")


@settings(max_examples=150, deadline=None)
@given(
    source=st.sampled_from(SOURCES),
    key=st.one_of(st.none(), st.binary(max_size=40), st.just(b'"acme"')),
    value=st.one_of(
        st.none(),
        st.binary(max_size=200),
        st.dictionaries(
            st.text(max_size=12), st.none() | st.integers(-(2**63), 2**63 - 1) | st.text()
        ).map(orjson.dumps),
        st.just(b'{"account_id": "acme"}'),
    ),
)
def test_no_record_of_any_source_stops_the_view(source, key, value):
    """Whatever a topic holds, the view skips what it cannot read (counted) and reads on:
    a good account record after it is taken."""

    async def read() -> tuple[float, bool]:
        settings = Settings()
        process = ViewProcess(settings)
        topic = {v: k for k, v in process.tables.items()} | {
            v: k for k, v in process.outputs.items()
        }
        name = topic.get(source, settings.topics.erasure)
        tp = TopicPartition(name, 0)
        records = [record(tp, 0, key, value)]
        if source == "accounts":
            records.append(record(tp, 1, b'"good"', AccountState(account_id="good").to_json()))
        process.apply(tp, records)
        skipped = process.metrics.unreadable.labels(source)._value.get()
        await process.view.close()
        await process.consumer.stop()
        taken = source != "accounts" or "good" in process.records
        return skipped, taken

    skipped, taken = asyncio.run(read())
    assert skipped in (0, 1)
    assert taken


def record(tp: TopicPartition, offset: int, key: bytes | None, value: bytes | None):
    return ConsumerRecord(
        tp.topic,
        tp.partition,
        offset,
        0,
        0,
        key,
        value,
        None,
        len(key or b""),
        len(value or b""),
        (),
    )
