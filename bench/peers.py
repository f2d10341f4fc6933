"""The Faust contenders the pipeline is measured against, run as a worker process each.

`noop` (ceiling_faust): one agent over the input topics, raw bytes, does nothing: the
ceiling of faust's per-event machinery. `naive` (naive_faust): what a first Faust
implementation does: decode each event with its pydantic model and write one table
record per event. `product` (naive_product): a plain agent around the product's own
logic: each record decoded and taken as the worker takes it (the same `apply_event`),
then its state written to the table and its outputs sent, on every record; none of the
worker's write-behind, outbox, ticks or view. All consume and produce as the worker
does (its consumer and producer settings: broker, poll size, fetch wait, linger, batch
size), faust defaults otherwise. Each reports to a JSON file, twice a second (off the
event path), how many records it has seen, when the first and the latest were done, and
its own CPU time then.

    BENCH_KIND=noop|naive|product BENCH_REPORT=file ABM_* (broker, app id, topics) \
        python -m bench.peers
"""

import asyncio
import os
import sys
import time
from pathlib import Path

import faust
import orjson

from streams.config import ACCOUNTS_TABLE, CAMPAIGNS_TABLE, load_settings
from streams.logic.inputs.apply import Effect
from streams.logic.inputs.decode import INPUT_MODELS, InputKind, Rejected, dead_letter
from streams.logic.inputs.records import decode_record, take
from streams.logic.state.roster import NO_ROSTERS, Roster
from streams.logic.state.state import AccountState
from streams.worker.agents.emit import coords_of, now_ms
from streams.worker.app import consumer_config, producer_config
from streams.worker.tables import state_table

KIND = os.environ["BENCH_KIND"]
REPORT = Path(os.environ["BENCH_REPORT"])
settings = load_settings()
app = faust.App(
    settings.app_id,
    **consumer_config(settings),
    **producer_config(settings),
    store="memory://",
    web_enabled=False,
)
kinds = {getattr(settings.topics, kind): kind for kind in InputKind}
by_topic = {topic: INPUT_MODELS[kind] for topic, kind in kinds.items()}
inputs = app.topic(*kinds, key_type=bytes, value_type=bytes, value_serializer="raw")
seen = {"count": 0, "first": 0.0, "last": 0.0}


def _count() -> None:
    seen["count"] += 1
    seen["last"] = time.monotonic()
    if not seen["first"]:
        seen["first"] = seen["last"]


def _raw_topic(name: str) -> faust.TopicT:
    return app.topic(name, key_type=bytes, value_type=bytes, value_serializer="raw")


if KIND == "noop":

    @app.agent(inputs)
    async def noop(stream: faust.StreamT) -> None:
        async for _ in stream:
            _count()

elif KIND == "naive":
    table = app.Table("latest", partitions=settings.partitions)

    @app.agent(inputs)
    async def naive(stream: faust.StreamT) -> None:
        async for event in stream.events():
            payload = by_topic[event.message.topic].model_validate_json(event.value)
            table[event.key.decode()] = payload.model_dump(mode="json")
            _count()

else:
    accounts = state_table(app, ACCOUNTS_TABLE, settings)
    campaigns = state_table(app, CAMPAIGNS_TABLE, settings)
    tier_changes = _raw_topic(settings.topics.tier_changes)
    stage_changes = _raw_topic(settings.topics.stage_changes)
    surge_alerts = _raw_topic(settings.topics.surge_alerts)
    alert_outcomes = _raw_topic(settings.topics.alert_outcomes)
    dead_letters = _raw_topic(settings.topics.dead_letter)

    class Tables:
        """The two state tables as `take` reads them, read and written directly. No
        rosters: the workload sends none, so a roster would only be dropped."""

        rosters = NO_ROSTERS

        def account(self, owner: str) -> AccountState | None:
            state: AccountState | None = accounts.get(owner)
            return state

        def campaign(self, owner: str) -> AccountState | None:
            state: AccountState | None = campaigns.get(owner)
            return state

        def put_roster(self, owner: str, roster: Roster, partition: int) -> None:
            """Not kept (see the class)."""

    store = Tables()

    async def keep(effect: Effect) -> None:
        """The account's state written (a changelog record), then every output of the
        record sent, each to its topic keyed by the account."""
        key = effect.state.account_id.encode()
        if effect.removed:
            del accounts[effect.state.account_id]
        else:
            accounts[effect.state.account_id] = effect.state
        if effect.change is not None:
            await tier_changes.send(key=key, value=effect.change.model_dump_json().encode())
        if effect.stage_change is not None:
            moved = effect.stage_change.model_dump_json().encode()
            await stage_changes.send(key=key, value=moved)
        for alert in effect.alerts:
            await surge_alerts.send(key=key, value=alert.model_dump_json().encode())
        for outcome in effect.outcomes:
            await alert_outcomes.send(key=key, value=outcome.model_dump_json().encode())

    @app.agent(inputs)
    async def product(stream: faust.StreamT) -> None:
        async for event in stream.events():
            coords = coords_of(event)
            try:
                record = decode_record(kinds[coords.topic], event.key, event.value)
                taken = take(record, coords, store, settings.rules, now_ms())
            except Rejected as why:
                refused = dead_letter(coords.topic, coords, event.key, event.value, why, now_ms())
                await dead_letters.send(key=event.key, value=refused.model_dump_json().encode())
                _count()
                continue
            effect = taken.effect
            if effect is not None and effect.write:
                if taken.campaign:  # a campaign's spend: stored, nothing to publish
                    campaigns[effect.state.account_id] = effect.state
                else:
                    await keep(effect)
            _count()


@app.timer(0.5)
async def report() -> None:
    figures = {**seen, "cpu": time.process_time()}
    await asyncio.to_thread(REPORT.write_bytes, orjson.dumps(figures))


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
