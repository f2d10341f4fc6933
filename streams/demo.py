"""`abm demo`: the embedded stack, a worker and a scripted week of ABM traffic, narrated.

The scenario's events are dated relative to now, so the wall-clock timer of the worker
keeps them honest: leave the demo running and the stale accounts move down on their own.
"""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import click
import orjson

from schemas.outputs import SurgeAlert
from streams.admin import ensure_topics
from streams.config import Settings
from streams.embedded import EmbeddedStack, free_port
from streams.io import Keyed, owner_key, produce, read_topic
from streams.logic.notify import message
from streams.redis_conn import async_redis, sync_redis
from streams.sinks.kpi_view import read_report
from streams.supervise import start_worker, wait_for_stop

__all__ = ["run_demo", "scenario"]

DAY = 86_400_000
HOUR = 3_600_000
TIER_NAMES = {0: "untiered", 1: "Tier 1", 2: "Tier 2", 3: "Tier 3"}


def scenario(now: int) -> Iterator[tuple[str, dict]]:
    """(topic kind, payload) pairs: six accounts, each showing one part of the rules."""
    profiles = [
        ("northwind", "Northwind Traders", 88, 120_000),  # fit, big deal, intent, engaged
        ("globex", "Globex", 80, 30_000),  # fit, small ACV, intent: too big for now
        ("initech", "Initech", 75, 20_000),  # fit, quiet: always-on nurture
        ("hooli", "Hooli", 91, 90_000),  # was hot three weeks ago: gone stale
        ("umbrella", "Umbrella Corp", 35, 500_000),  # outside the ICP whatever it spends
        ("vandelay", "Vandelay Industries", 82, 60_000),  # steady visits, then a surge
    ]
    for account_id, name, fit, acv in profiles:
        yield (
            "accounts",
            {
                "account_id": account_id,
                "name": name,
                "fit_score": fit,
                "expected_acv": acv,
                "owner": "sales@example.com",
            },
        )
    yield (
        "accounts",
        {
            "account_id": "acme",
            "name": "Acme Corp",
            "industry": "software",
            "country": "US",
            "employees": 1200,
            "annual_revenue": 4e7,
            "expected_acv": 65_000,
        },
    )  # fit computed from the ICP rules

    n = 0

    def ev(kind: str, account: str, at: int, **fields: object) -> tuple[str, dict]:
        nonlocal n
        n += 1
        return kind, {"event_id": f"demo-{n}", "account_id": account, "occurred_at": at, **fields}

    def visit(
        account: str, at: int, contact: str, action: str = "page_view", channel: str = "web"
    ) -> tuple[str, dict]:
        return ev("engagement", account, at, contact_id=contact, channel=channel, action=action)

    yield ev("intent", "northwind", now - 5 * DAY, provider="bombora", topic="crm", score=78)
    yield visit("northwind", now - 4 * DAY, "ann", "content_download")
    yield visit("northwind", now - 2 * DAY, "bob", "email_click", "email")
    yield visit("northwind", now - DAY, "cy", "meeting", "sales")
    yield ev("intent", "globex", now - 3 * DAY, provider="g2", topic="data platform", score=66)
    yield ev("intent", "hooli", now - 21 * DAY, provider="bombora", topic="crm", score=90)
    yield visit("hooli", now - 20 * DAY, "dee", "meeting", "sales")
    yield visit("hooli", now - 20 * DAY, "eve", "form_submit")
    yield ev("intent", "umbrella", now - DAY, provider="bombora", topic="crm", score=95)
    # Vandelay: a page view a day for four weeks (its baseline: ~7 points a week), then a
    # buying committee shows up: an engagement surge raised mid-burst, with the evidence.
    for day in range(34, 7, -1):
        yield visit("vandelay", now - day * DAY, f"v{day % 3}")
    committee = ["kim", "lee", "max", "ned"]
    for i in range(12):
        yield visit("vandelay", now - DAY + i * 600_000, committee[i % 4])
    yield visit("vandelay", now - 6 * HOUR, "kim", "email_click", "email")
    yield visit("vandelay", now - 3 * HOUR, "lee", "meeting", "sales")
    yield visit("acme", now - 6 * DAY, "fay", "event_attended", "event")
    yield visit("acme", now - 6 * DAY, "gus", "email_open", "email")
    yield ev("intent", "acme", now - 2 * HOUR, provider="first_party", topic="pricing", score=70)
    yield ev(
        "deals",
        "acme",
        now - HOUR,
        opportunity_id="acme-1",
        stage="proposal",
        amount=85_000,
        deal_type="new",
        currency="USD",
    )

    # The CRM and the ad platforms: a won, a lost and an open deal; campaign spend.
    def stage(account: str, opp: str, name: str, at: int, amount: float) -> tuple[str, dict]:
        return ev("deals", account, at, opportunity_id=opp, stage=name, amount=amount)

    yield stage("northwind", "nw-1", "prospecting", now - 20 * DAY, 110_000)
    yield stage("northwind", "nw-1", "proposal", now - 10 * DAY, 120_000)
    yield stage("northwind", "nw-1", "closed_won", now - 2 * DAY, 120_000)
    yield stage("globex", "gx-1", "qualification", now - 15 * DAY, 30_000)
    yield stage("globex", "gx-1", "closed_lost", now - 4 * DAY, 30_000)
    yield stage("hooli", "hl-1", "negotiation", now - 6 * DAY, 95_000)
    yield ev("spend", "northwind", now - 9 * DAY, campaign_id="q4-abm-tier1", amount=4_000)
    yield (
        "spend",
        {
            "event_id": "demo-brand",
            "campaign_id": "q4-brand",
            "amount": 11_000,
            "occurred_at": now - 9 * DAY,
        },
    )  # spend not tied to an account: counted overall
    yield (
        "engagement",
        {
            "event_id": "demo-bad",
            "account_id": "globex",
            "channel": "fax",
            "action": "page_view",
            "occurred_at": now,
        },
    )  # dead-lettered


def _line(change: dict) -> str:
    i = change["inputs"]
    return (
        f"  {change['account_id']:<10} {TIER_NAMES[change['previous_tier']]:>8} -> "
        f"{TIER_NAMES[change['tier']]:<8} rule={change['rule']:<11} fit={i['fit'] or 0:>3.0f} "
        f"acv={i['acv']:>9,.0f} intent={i['intent_max']:>3.0f} "
        f"points={i['engagement_points']:>3.0f} contacts={i['engaged_contacts']}"
    )


EXPECTED_TIERS = {
    "northwind": 1,
    "globex": 2,
    "initech": 3,
    "hooli": 3,
    "acme": 1,
    "vandelay": 2,
}
"""Where the scenario settles (umbrella stays untiered, so it never changes)."""


async def _show_changes(settings: Settings, idle_s: float) -> float | None:
    """Print tier changes until every account has settled; return when the first came."""
    tiers: dict[str, int] = {}
    first: float | None = None
    async for _key, value in read_topic(
        settings, settings.topics.tier_changes, from_beginning=True, timeout_s=idle_s
    ):
        change = orjson.loads(value)
        first = first or time.monotonic()
        click.echo(_line(change))
        tiers[change["account_id"]] = change["tier"]
        if tiers == EXPECTED_TIERS:
            break
    return first


EXPECTED_ALERTS = {
    ("northwind", "intent"),
    ("globex", "intent"),
    ("hooli", "intent"),
    ("umbrella", "intent"),
    ("acme", "intent"),
    ("vandelay", "engagement"),
}
"""A provider score >= 60 is an intent surge on its own; vandelay's is engagement."""


async def _show_alerts(settings: Settings, idle_s: float) -> None:
    """Print surge alerts as sales would read them, until every expected one has come."""
    seen: set[tuple[str, str]] = set()
    async for _key, value in read_topic(
        settings, settings.topics.surge_alerts, from_beginning=True, timeout_s=idle_s
    ):
        alert = SurgeAlert.model_validate_json(value)
        click.echo(f"  {alert.detected_at:%Y-%m-%d %H:%M}  {orjson.loads(message(alert))['text']}")
        seen.add((alert.account_id, alert.kind))
        if seen >= EXPECTED_ALERTS:
            break


def _wait_for_view(
    settings: Settings, field: str, expected: dict[str, str], timeout: float = 15.0
) -> None:
    """Until Redis shows `field` of every account as expected (the view flushes on a timer)."""
    redis = sync_redis(settings, decode_responses=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = {a: redis.hget(f"{settings.redis_prefix}account:{a}", field) for a in expected}
        if shown == expected:
            return
        time.sleep(0.2)


def _summary(settings: Settings, accounts: list[str]) -> None:
    redis = sync_redis(settings, decode_responses=True)
    click.echo("\nAccount snapshots in Redis (abm account ID shows one):")
    for account_id in accounts:
        h = redis.hgetall(f"{settings.redis_prefix}account:{account_id}")
        click.echo(
            f"  {account_id:<10} {TIER_NAMES[int(h.get('tier', 0))]:<8} "
            f"rule={h.get('rule', '?'):<11} intent={h.get('intent_topics') or '-':<14} "
            f"points={h.get('engagement_points', '?'):>3} pipeline={h.get('pipeline', '?'):>6} "
            f"surging={h.get('surging') or '-'}"
        )


def _kpi_summary(settings: Settings, timeout: float = 15.0) -> None:
    """The headline KPIs once the scenario's deals and spend are counted."""

    async def read() -> dict:
        client = async_redis(settings)
        try:
            return await read_report(client, settings, settings.rules)
        finally:
            await client.aclose()

    deadline = time.monotonic() + timeout
    while (k := asyncio.run(read())["overall"])["spend"] < 15_000 or k["won"] + k["lost"] < 2:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    click.echo(
        f"\nKPIs (abm kpis shows them all, per tier): {k['accounts']} accounts, "
        f"{k['engaged_accounts_7d']} engaged in 7 days, {k['opportunities_created']} "
        f"opportunities, open pipeline {k['open_pipeline_value']:,.0f}, won "
        f"{k['won_revenue']:,.0f}, win rate {k['win_rate']:.0%}, spend {k['spend']:,.0f}, "
        f"ROI {k['roi']:.1f}x"
    )


def run_demo(keep_running: bool = True) -> None:
    started = time.monotonic()
    click.echo("Starting the embedded broker and Redis ...")
    with EmbeddedStack() as stack:
        env = {
            **stack.env(),
            "ABM_WEB_PORT": str(free_port()),
            "ABM_SESSION_TIMEOUT_S": "6",
            "ABM_HEARTBEAT_INTERVAL_S": "1",
            "ABM_TICK_INTERVAL_S": "5",
            "ABM_LOG_LEVEL": "warning",
        }
        settings = stack.settings()
        asyncio.run(ensure_topics(settings))
        worker = start_worker(env, Path(settings.data_dir) / "demo-worker.log")
        try:
            waited = worker.wait_ready()
            click.echo(f"Worker ready in {waited:.1f}s (log: {worker.log}); playing the scenario")
            events = list(scenario(int(time.time() * 1000)))
            by_topic: dict[str, list[Keyed]] = {}
            for kind, payload in events:
                by_topic.setdefault(getattr(settings.topics, kind), []).append(
                    Keyed(owner_key(payload), orjson.dumps(payload))
                )
            sent_at = time.monotonic()
            # Profiles first, as a CRM sync would have run: alerts then carry names and owners.
            profiles = by_topic.pop(settings.topics.accounts)
            asyncio.run(produce(settings, settings.topics.accounts, profiles))
            names = {p["account_id"]: p["name"] for kind, p in events if kind == "accounts"}
            _wait_for_view(settings, "name", names)
            for topic, records in by_topic.items():
                asyncio.run(produce(settings, topic, records))
            click.echo(f"Sent {len(events)} events; tier changes as they happen:")
            first = asyncio.run(_show_changes(settings, idle_s=30)) or sent_at
            click.echo(
                f"(first change {first - sent_at:.2f}s after sending, all settled after "
                f"{time.monotonic() - sent_at:.1f}s; demo up {time.monotonic() - started:.1f}s)"
            )
            click.echo("\nSurge alerts for sales (abm.surge-alerts.v1), with their evidence:")
            asyncio.run(_show_alerts(settings, idle_s=30))
            accounts = sorted(names)
            settled = {**dict.fromkeys(accounts, 0), **EXPECTED_TIERS}
            _wait_for_view(settings, "tier", {a: str(t) for a, t in settled.items()})
            _summary(settings, accounts)
            _kpi_summary(settings)
            click.echo(
                "\nOne bad event went to the dead-letter topic "
                "(abm tail abm.dead-letter.v1 --from-beginning shows it)."
            )
            if keep_running:
                click.echo(
                    f"\nStill running; in another shell:\n  export "
                    f"{' '.join(f'{k}={v}' for k, v in stack.env().items())}\n"
                    "  abm tail abm.tier-changes.v1 --from-beginning\n"
                    "  abm tail abm.surge-alerts.v1 --from-beginning\n"
                    "  abm kpis\n"
                    "Ctrl-C stops everything."
                )
                wait_for_stop(lambda: worker.proc.poll() is None)
                click.echo("Stopping the worker, then the broker and Redis ...")
        finally:
            worker.stop()
