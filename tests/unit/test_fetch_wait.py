"""The worker's consumer takes its fetch wait from settings (faust hard-codes 1500 ms)."""

import pytest

from streams.config import Settings
from streams.worker.app import create_app


@pytest.mark.parametrize("wait_ms", [7, 1500])
async def test_the_worker_consumer_waits_as_configured(tmp_path, wait_ms):
    app, _ = create_app(Settings(fetch_max_wait_ms=wait_ms, data_dir=tmp_path))
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == wait_ms
