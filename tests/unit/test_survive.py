"""A timer round that raises is counted and logged, and the next round runs."""

from prometheus_client import CollectorRegistry, Counter

from streams.worker.survive import survive


async def test_a_failing_round_is_counted_and_the_next_one_runs(caplog):
    registry = CollectorRegistry()
    errors = Counter("errors", "", ["task"], registry=registry)
    rounds: list[int] = []

    @survive("flush", errors)
    async def flush() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise KeyError("an account nobody foresaw")

    await flush()  # raises inside, and does not raise out
    await flush()
    assert rounds == [0, 1]
    assert registry.get_sample_value("errors_total", {"task": "flush"}) == 1
    assert "flush failed; it runs again at its next round" in caplog.text
    assert flush.__name__ == "flush"  # faust names the timer's task after it
