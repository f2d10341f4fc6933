"""/metrics on a live worker agrees with what the test sent and what the worker published."""

import json
import time
import urllib.error
import urllib.request

from aiokafka.partitioner import DefaultPartitioner
from redis import Redis

from tests.harness import (
    launch,
    metric_sum,
    pipeline_settings,
    read_all,
    read_metrics,
    send_rows,
    wait_until,
)

NOW = int(time.time() * 1000)
ACCOUNTS = [f"m-{n}" for n in range(12)]


def rows() -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = [
        ("accounts", {"account_id": a, "name": a, "fit_score": 40 + 5 * n, "expected_acv": 60_000})
        for n, a in enumerate(ACCOUNTS)
    ]
    for n, account in enumerate(ACCOUNTS):
        for k in range(n + 1):
            event = {
                "event_id": f"{account}-{k}",
                "account_id": account,
                "contact_id": f"c{k % 3}",
                "channel": "web",
                "action": "page_view" if k % 2 else "content_download",
                "occurred_at": NOW - 3_600_000 * (n + 1) + 60_000 * k,
            }
            out.append(("engagement", event))
            if k == 0:
                out.append(("engagement", event))  # a duplicate delivery
    return out


def test_metrics_match_what_went_in_and_out(stack):
    settings, env = pipeline_settings(
        stack, clock="event", watchdog_interval_s=0.5, tick_interval_s=0.5
    )
    started = time.perf_counter()
    worker = launch(settings, env, "metrics")
    try:
        sent = rows()
        send_rows(settings, sent)
        duplicates = len(ACCOUNTS)

        def settled():
            m = read_metrics(settings)
            done = metric_sum(m, "abm_events_total") == len(sent)
            counted = metric_sum(m, "abm_tier_accounts") == len(ACCOUNTS)  # at the next flush
            return done and counted and metric_sum(m, "abm_consumer_lag") == 0 and m

        metrics = wait_until(settled, 60, "every record and account counted, no lag")
        assert metric_sum(metrics, "abm_events_total", outcome="duplicate") == duplicates
        assert metric_sum(metrics, "abm_events_total", outcome="applied") == len(sent) - duplicates
        assert metric_sum(metrics, "abm_events_total", outcome="dead_letter") == 0
        assert metric_sum(metrics, "abm_processing_seconds_count") == len(sent)
        lag_series = {ls for (n, ls) in metrics if n == "abm_consumer_lag"}
        # every partition the group reads (inputs, clock, erasure, matching's), owned
        assert len(lag_series) == len(settings.topics.consumed()) * settings.partitions
        changes = read_all(settings, settings.topics.tier_changes)
        assert metric_sum(metrics, "abm_outputs_total", output="tier_change") == len(changes)
        moved = read_all(settings, settings.topics.stage_changes)
        assert metric_sum(metrics, "abm_outputs_total", output="stage_change") == len(moved)
        assert {m["account_id"] for m in moved if m["stage"] == "engaged"} == set(ACCOUNTS)
        assert metric_sum(metrics, "abm_redis_write_errors_total") == 0
        # the worker's own span over the records it handled, within the test's
        assert 0 < metric_sum(metrics, "abm_input_span_seconds") < time.perf_counter() - started
        ticks = read_all(settings, settings.topics.clock)  # each applied once, as it came
        assert metric_sum(read_metrics(settings), "abm_ticks_total") == len(ticks)
        # what /ready says, as a gauge Prometheus can alert on
        assert [v for (n, _), v in metrics.items() if n == "abm_worker_ready"] == [1]

        partitioner, everything = DefaultPartitioner(), list(range(settings.partitions))
        newest: dict[int, int] = {}
        for kind, event in sent:
            if kind == "engagement":
                part = partitioner(event["account_id"].encode(), everything, everything)
                newest[part] = max(newest.get(part, 0), event["occurred_at"])
        scraped_at = time.time()
        for part, at in newest.items():
            lag = metric_sum(metrics, "abm_event_time_lag_seconds", partition=str(part))
            assert scraped_at - at / 1000 - 60 < lag <= scraped_at - at / 1000 + 1
        assert_accounts_answer_from_anywhere(settings)
    finally:
        assert worker.stop() == 0


def _get(settings, path: str) -> tuple[int, dict]:
    url = f"http://127.0.0.1:{settings.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def assert_accounts_answer_from_anywhere(settings) -> None:
    """/accounts/{id}: this worker's own accounts from its table, any other account from
    the Redis view (as if another worker owned it), unknown ones 404."""
    status, own = _get(settings, f"/accounts/{ACCOUNTS[0]}")
    assert status == 200
    assert (own["account_id"], own["stage"]) == (ACCOUNTS[0], "engaged")
    elsewhere = {"account_id": "held-elsewhere", "tier": "2", "stage": "mqa"}
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    redis.hset(f"{settings.redis_prefix}account:held-elsewhere", mapping=elsewhere)
    assert _get(settings, "/accounts/held-elsewhere") == (200, elsewhere)
    status, body = _get(settings, "/accounts/nobody-at-all")
    assert status == 404
    assert "nobody-at-all" in body["error"]
