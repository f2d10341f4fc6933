"""Fixtures: one embedded broker + Redis per session, workers as real subprocesses.

Where a test lives decides whether it is end to end: every test under tests/e2e gets the
`e2e` marker here (so `-m "not e2e"` is the quick set), and a test anywhere else that
would start the broker or Redis fails before it does: through the `stack` fixture (also
when a fixture it uses needs `stack`), or by starting an EmbeddedStack's servers itself.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.dev.embedded import EmbeddedStack
from tests.harness import Worker, launch, pipeline_settings

E2E = Path(__file__).parent / "e2e"
MISPLACED = "tests that start a broker or Redis belong in tests/e2e"

_current: list[pytest.Item] = []
"""The test being set up, run or torn down (session fixtures start and stop within one)."""


def in_e2e(item: pytest.Item) -> bool:
    return item.path.is_relative_to(E2E)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the marker must be on before `-m` deselects by it.
    for item in items:
        if in_e2e(item):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _current[:] = [item]
    if in_e2e(item):
        return
    if "stack" in item.fixturenames:  # the closure: fixtures that need `stack` count too
        needs = "needs the `stack` fixture (itself or through another fixture)"
        pytest.fail(f"{item.nodeid} {needs}: {MISPLACED}", pytrace=False)
    if item.get_closest_marker("e2e"):
        pytest.fail(f"{item.nodeid} is marked e2e: {MISPLACED}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _servers_only_in_e2e() -> Iterator[None]:
    """An EmbeddedStack started by a test outside tests/e2e (not via `stack`) fails too."""

    def refusing(start):
        def guarded(self: EmbeddedStack, *args: object, **kwargs: object) -> object:
            if _current and not in_e2e(_current[0]):
                pytest.fail(f"{_current[0].nodeid} starts {start.__name__}: {MISPLACED}")
            return start(self, *args, **kwargs)

        return guarded

    with pytest.MonkeyPatch.context() as patch:
        for name in ("start_redis", "start_broker"):
            patch.setattr(EmbeddedStack, name, refusing(getattr(EmbeddedStack, name)))
        yield


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
