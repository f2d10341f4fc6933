"""When the Redis view is written: at every timer round, unless the worker is busy."""

from hypothesis import given
from hypothesis import strategies as st

from streams.config import Settings
from streams.sinks.redis_view import BATCH, RedisView


@given(
    waiting=st.integers(0, 3 * BATCH),
    since=st.floats(0, 10, allow_nan=False),
    busy_s=st.floats(0.1, 5, allow_nan=False),
)
def test_a_busy_worker_lets_changed_accounts_gather(waiting, since, busy_s):
    """Up to one batch of accounts waiting: written at once (the view stays fresh while
    the worker keeps up). More: only once `busy_s` has passed since the last write, so
    an account changed again meanwhile is written once."""
    settings = Settings(redis_flush_busy_interval_s=busy_s)
    view = RedisView(settings, settings.rules)
    view.flushed_at = 0.0  # so that `since` is exactly the time since it
    for n in range(waiting):
        view.mark_id(f"acct-{n}")
    assert view.due(since) == (waiting <= BATCH or since >= busy_s)
