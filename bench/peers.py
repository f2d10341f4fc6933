"""The Faust contenders the pipeline is measured against, run as a worker process each.

`noop` (ceiling_faust): one agent over the input topics, raw bytes, does nothing: the
ceiling of faust's per-event machinery. `naive` (naive_faust): what a first Faust
implementation does: decode each event with its pydantic model and write one table
record per event. Both consume as the worker does (its consumer settings: broker, poll
size, fetch wait), faust defaults otherwise. Each reports how many events it has seen and
when the first and the latest arrived to a JSON file, twice a second (off the event path).

    BENCH_KIND=noop|naive BENCH_REPORT=file ABM_* (broker, app id, topics) python -m bench.peers
"""

import asyncio
import os
import sys
import time
from pathlib import Path

import faust
import orjson

from streams.config import load_settings
from streams.logic.inputs.decode import INPUT_MODELS
from streams.worker.app import consumer_config

KIND = os.environ["BENCH_KIND"]
REPORT = Path(os.environ["BENCH_REPORT"])
settings = load_settings()
app = faust.App(settings.app_id, **consumer_config(settings), store="memory://", web_enabled=False)
by_topic = {getattr(settings.topics, kind): model for kind, model in INPUT_MODELS.items()}
inputs = app.topic(*by_topic, key_type=bytes, value_type=bytes, value_serializer="raw")
table = app.Table("latest", partitions=settings.partitions)
seen = {"count": 0, "first": 0.0, "last": 0.0}


def _count() -> None:
    seen["count"] += 1
    seen["last"] = time.monotonic()
    if not seen["first"]:
        seen["first"] = seen["last"]


if KIND == "noop":

    @app.agent(inputs)
    async def noop(stream: faust.StreamT) -> None:
        async for _ in stream:
            _count()

else:

    @app.agent(inputs)
    async def naive(stream: faust.StreamT) -> None:
        async for event in stream.events():
            payload = by_topic[event.message.topic].model_validate_json(event.value)
            table[event.key.decode()] = payload.model_dump(mode="json")
            _count()


@app.timer(0.5)
async def report() -> None:
    await asyncio.to_thread(REPORT.write_bytes, orjson.dumps(seen))


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
