"""Fixtures: one embedded broker + Redis per session, workers as real subprocesses."""

from collections.abc import Iterator

import pytest

from streams.dev.embedded import EmbeddedStack
from tests.harness import Worker, launch, pipeline_settings


@pytest.fixture(scope="session")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack() as embedded:
        yield embedded


@pytest.fixture(scope="module")
def worker(stack, request) -> Iterator[Worker]:
    settings, env = pipeline_settings(stack, clock="event")
    running = launch(settings, env, request.module.__name__)
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]
