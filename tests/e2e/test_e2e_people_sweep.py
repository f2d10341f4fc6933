"""Visitors are many and most never come back: a person idle `people_days` behind the
newest event is forgotten by the sweep, with the events that waited for them, so the
people table does not grow with every anonymous visit for good."""

import asyncio
import time
import uuid
from pathlib import Path

import orjson
import pytest

from streams.clients.produce_tail import read_topic
from tests.harness import ARTIFACTS, collect, launch, pipeline_settings, send, wait_until

DAY = 86_400_000
NOW = int(time.time() * 1000)


@pytest.fixture(scope="module")
def worker(stack, request):
    ARTIFACTS.mkdir(exist_ok=True)
    rules = Path(ARTIFACTS / "people-sweep.toml")
    rules.write_text("[sources.segment]\npeople_days = 2\n")
    settings, env = pipeline_settings(
        stack, clock="event", config_file=rules, people_sweep_interval_s=1
    )
    running = launch(settings, env, request.module.__name__)
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]


def page(anonymous: str, at: int, message_id: str) -> dict:
    return {"type": "page", "messageId": message_id, "anonymousId": anonymous, "timestamp": at}


def people(settings) -> dict[str, bytes | None]:
    async def run():
        return [
            r
            async for r in read_topic(
                settings, settings.changelog("people"), from_beginning=True, timeout_s=0.5
            )
        ]

    return {orjson.loads(k): v for k, v in asyncio.run(run())}


def test_idle_people_are_forgotten_with_what_waited(worker):
    settings = worker.settings
    send(
        settings,
        settings.topics.accounts,
        {"account_id": "acme", "name": "Acme", "domain": "acme.com"},
    )
    old, new = f"old-{uuid.uuid4()}", f"new-{uuid.uuid4()}"
    send(settings, settings.topics.segment, page(old, NOW - 5 * DAY, "old-page"), key=old)
    send(settings, settings.topics.segment, page(new, NOW, "new-page"), key=new)
    wait_until(lambda: old in (seen := people(settings)) and seen[old] is None, 60, "old forgotten")
    assert people(settings)[new] is not None  # active: kept
    identify = {
        "type": "identify",
        "messageId": str(uuid.uuid4()),
        "anonymousId": old,
        "timestamp": NOW,
        "traits": {"email": "pat@acme.com"},
    }
    send(settings, settings.topics.segment, identify, page(old, NOW + 1, "old-again"), key=old)
    found = collect(
        settings,
        settings.topics.engagement,
        lambda seen: "seg:old-again" in {e["event_id"] for e in seen},
    )
    assert "seg:old-page" not in {e["event_id"] for e in found}  # forgotten before the link
