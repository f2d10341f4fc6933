"""`abm demo`: the embedded stack, a worker and a view process, months of synthetic ABM
history, then live traffic.

The history is dated up to now: what the demo shows is what a team would see the morning
after switching it on with a backfill of its history. The worker runs on the event clock
(see EVENT_CLOCK), which is the wall clock once the history is in. Progress is
the worker's own count of processed records (its /metrics), not what was sent; the
summary waits until the view process has written what the worker stored. Two of
the four account owners have a route (demo_routes.py); live alerts print as each route's
receiver got them, and the other owners' from the alerts topic.

The history's sellers answer the surge alerts the demo's rules raise on it (followup.py),
a fifth of the accounts held out, so the summary can say what the alerts brought: the lift in
opportunities that the worker's own KPIs measured.
"""

import asyncio
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import click
import orjson
from aiokafka import AIOKafkaProducer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from schemas.outputs import SurgeAlert
from streams.clients.admin import ensure_topics
from streams.clients.kafka import client_options, started
from streams.clients.produce_tail import owner_key, read_topic
from streams.clients.redis import async_redis
from streams.clients.redis_keys import RedisKeys
from streams.clients.unmatched import read_prospects, report
from streams.config import Settings
from streams.dashboard.data import top_surging
from streams.dev.demo_routes import ROUTED_OWNERS, Receivers, demo_rules, receivers, rule_set
from streams.dev.embedded import EmbeddedStack, free_port
from streams.dev.followup import answered_history
from streams.dev.settle import matching_settles, view_holds
from streams.dev.supervise import (
    ChildWorker,
    processed_records,
    scrape,
    start_view,
    start_worker,
    wait_for_stop,
)
from streams.dev.synth import Row, World
from streams.replay.engine import Replay
from streams.sinks.kpi_view import read_report
from streams.sinks.notify import message

__all__ = ["run_demo", "send_rows"]

LIVE_EVENTS_PER_S = 1
"""A trickle: the history's own rate is ~0.01/s, so more would make every account surge."""
RAMP_EVERY_S = 20
POLL_S = 0.25
"""How often loading asks the worker how far it is (the history waits for it every week)."""
EVENT_CLOCK = {"ABM_CLOCK": "event"}
"""'Now' is the newest event time: on the wall clock the staleness timer would tick each
account to now while its past was still loading, so the rest of its past would be judged
as of now (its surges raised now, where no answer dated before could count for them).
The history ends now and live traffic is dated now, so the two agree once the history
is in; when the live traffic stops, time stands still for the worker."""
IDENTITY = {"ABM_IDENTITY_KEY": "the-demo-s-identity-key-not-for-production"}
"""What the website's addresses are hashed under (and `abm forget --email` needs)."""


async def send_rows(settings: Settings, rows: Iterable[Row]) -> int:
    producer = await _producer(settings)
    try:
        return await _send(settings, producer, rows)
    finally:
        await producer.stop()


async def _producer(settings: Settings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=20, acks="all")
    await started(producer)
    return producer


async def _send(settings: Settings, producer: AIOKafkaProducer, rows: Iterable[Row]) -> int:
    """Send `rows` and wait until the broker has them all."""
    sent = 0
    for kind, payload in rows:
        # Segment calls are keyed by person, as analytics.js's collector keys them.
        key = owner_key(payload) if kind != "segment" else _person(payload)
        await producer.send(getattr(settings.topics, kind), orjson.dumps(payload), key=key)
        sent += 1
    await producer.flush()
    return sent


def _person(call: dict) -> bytes:
    return str(call.get("userId") or call["anonymousId"]).encode()


def _website(settings: Settings, worker: ChildWorker, world: World) -> None:
    """The website's Segment calls, matched to accounts, and what matched nothing."""
    calls = world.website()
    asyncio.run(send_rows(settings, calls))
    matching_settles(settings, timeout_s=120)
    outcomes: dict[str, float] = {}
    for (name, labels), value in scrape(worker.web_port).items():
        if name == "abm_identity_total":
            outcome = dict(labels)["outcome"]
            outcomes[outcome] = outcomes.get(outcome, 0) + value
    matched = {
        k.removeprefix("matched_"): int(v) for k, v in outcomes.items() if k.startswith("matched_")
    }
    prospects, claimed = asyncio.run(read_prospects(settings))
    found = report(prospects, days=3, limit=3, now_ms=world.end, claimed=claimed)
    listed = ", ".join(
        f"{d['domain']} ({d['events']} events, {d['people']} people)" for d in found["domains"]
    )
    free = int(outcomes.get("unmatched_free_mail", 0))
    click.echo(
        f"Website: {len(calls):,} Segment calls (as analytics.js sends them); "
        f"{sum(matched.values()):,} events matched to accounts (by domain "
        f"{matched.get('domain', 0):,}, by contact {matched.get('contact', 0):,}), "
        f"{free:,} from free mail unmatched; companies engaging that are not accounts: "
        f"{listed or 'none'}  (abm unmatched)"
    )


def _load(
    settings: Settings,
    worker: ChildWorker,
    label: str,
    batches: Iterable[list[Row]],
    done: int,
    expected: int,
) -> int:
    """Send `batches` and show the worker processing them (`expected` rows in all, as far
    as is known before they are made); return the new processed total."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6,.0f} ev/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(label, total=expected, rate=0.0)
        started = time.monotonic()

        def show(count: int, total: int) -> None:
            rate = count / max(time.monotonic() - started, 1e-9)
            progress.update(task, total=max(expected, total), completed=count, rate=rate)

        return done + asyncio.run(_in_turn(settings, worker, batches, done, show))


async def _in_turn(
    settings: Settings,
    worker: ChildWorker,
    batches: Iterable[list[Row]],
    done: int,
    show: Callable[[int, int], None],
) -> int:
    """Send each batch once the worker has processed every row before it, so no row
    overtakes an earlier batch's whatever the pace the worker reads each topic at; the
    next batch is made while the worker takes the last. Returns the rows processed."""
    producer = await _producer(settings)
    sent = 0

    async def caught_up() -> int:
        while True:
            count = int(await asyncio.to_thread(processed_records, worker.web_port)) - done
            show(count, sent)
            if count >= sent or worker.proc.poll() is not None:
                return count
            await asyncio.sleep(POLL_S)

    try:
        for batch in batches:
            await caught_up()
            sent += await _send(settings, producer, batch)
        return await caught_up()
    finally:
        await producer.stop()


async def _report(settings: Settings) -> tuple[dict, list[dict]]:
    client = async_redis(settings)
    try:
        kpis = await read_report(client, settings, settings.rules)
        surging = await top_surging(client, RedisKeys(settings.redis_prefix), 50)
        return kpis, [s for s in surging if s["tier"] != 0][:5]  # sales hears of targets
    finally:
        await client.aclose()


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _alerts(a: dict) -> str:
    """What followed the alerts, and the lift the holdout measured (or why there is none)."""
    median = a["response_minutes_p50"]
    waited = "n/a" if median is None else f"{median:.0f} min"
    if a["lift"] is None:
        lift = f"lift n/a ({a['lift_note']})"
    else:
        low, high = a["lift_ci_95"]
        lift = f"lift {a['lift']:.1f} (95% CI {low:.1f}-{high:.1f})"
    return (
        f"Alerts: {a['raised']} raised, {a['delivered']} delivered "
        f"({_percent(a['response_rate'])} answered, median {waited}), {a['held_out']} held "
        f"out; opportunities after {_percent(a['opportunity_rate_delivered'])} of delivered "
        f"vs {_percent(a['opportunity_rate_held_out'])} of held-out alerts: {lift}  (abm kpis)"
    )


def _summary(settings: Settings, view: ChildWorker) -> None:
    view_holds(settings, [view.web_port], timeout_s=120)
    kpis, surging = asyncio.run(_report(settings))
    k, tiers = kpis["overall"], kpis["tiers"]
    click.echo(
        f"\nTiers: {tiers['1']['accounts']} Tier 1, {tiers['2']['accounts']} Tier 2, "
        f"{tiers['3']['accounts']} Tier 3, {tiers['0']['accounts']} untiered"
    )
    rate = _percent(k["win_rate"])
    roi = _times(k["roi"])
    coverage = ", ".join(
        f"Tier {t} "
        + ("n/a" if (c := tiers[t]["decision_maker_coverage_30d"]) is None else f"{c:.0%}")
        for t in ("1", "2", "3")
    )
    personas = k["personas_per_engaged_account_30d"] or 0
    click.echo(
        f"Buying committee: engaged accounts with a decision maker engaged (30 days): "
        f"{coverage}; {personas:.1f} personas per engaged account"
    )
    journey = k["journey"]
    stages = " > ".join(
        f"{stage} {n}" for stage, n in reversed(journey["accounts_by_stage"].items())
    )
    median = journey["median_days"].get("engaged->mqa")
    click.echo(
        f"Journey: {stages}; engaged -> mqa "
        + ("n/a" if (c := journey["conversion"].get("engaged->mqa")) is None else f"{c:.0%}")
        + ("" if median is None else f" in {median:.0f} days (median)")
    )
    click.echo(
        f"KPIs: {k['engaged_accounts_7d']} accounts engaged in 7 days, "
        f"{k['opportunities_created']} opportunities, open pipeline "
        f"{k['open_pipeline_value']:,.0f}, won {k['won_revenue']:,.0f}, win rate {rate}, "
        f"spend {k['spend']:,.0f}, ROI {roi}  (abm kpis shows them all)"
    )
    t = kpis["targets"]
    click.echo(
        f"Target accounts: win rate {_percent(t['win_rate'])}, average deal "
        f"{_money(t['average_deal_size'])}, velocity {_money(t['sales_velocity_per_day'])}/day, "
        f"net revenue retention {_percent(t['net_revenue_retention'])}, "
        f"{t['active_customers']} customers ({t['churned_customers']} churned), expected CLV "
        f"{_money(t['clv_expected'])}; engaged people {t['engaged_contacts_7d']} this week"
    )
    campaigns = kpis["campaigns"]
    if campaigns:
        best = max(campaigns, key=lambda c: campaigns[c]["won_revenue_influenced"])
        click.echo(
            f"Campaigns: {len(campaigns)}; {best} influenced the most won revenue "
            f"({_money(campaigns[best]['won_revenue_influenced'])}, ROI "
            f"{_times(campaigns[best]['roi'])})  (abm kpis --campaigns)"
        )
    click.echo(_alerts(k["alerts"]))
    click.echo("Target accounts surging now:")
    for s in surging:
        click.echo(
            f"  {s['name']:<32} tier {s['tier']}  {s['kinds']:<18} strength {s['strength']:.2f}"
        )


async def _live(
    settings: Settings, world: World, minutes: float, alive: list[bool], got: Receivers
) -> None:
    """Live traffic and the alerts it raises, until `minutes` pass or `alive` is cleared:
    routed owners' as their receivers got them, the others' from the topic."""

    async def alerts() -> None:
        async for _key, value in read_topic(settings, settings.topics.surge_alerts):
            alert = SurgeAlert.model_validate_json(value)
            if alert.tier == 0 or alert.owner in ROUTED_OWNERS or alert.holdout:
                continue  # outside the ICP (for systems, not sales), printed by its route, or
                # held out: told to no seller
            click.echo(f"  [alerts topic] {orjson.loads(message(alert))['text']}")

    got.live = True

    tail = asyncio.create_task(alerts())
    deadline = time.monotonic() + minutes * 60
    last_ramp = 0.0
    try:
        while alive[0] and time.monotonic() < deadline:
            ramp = time.monotonic() - last_ramp >= RAMP_EVERY_S
            last_ramp = time.monotonic() if ramp else last_ramp
            await send_rows(settings, world.live(int(time.time() * 1000), LIVE_EVENTS_PER_S, ramp))
            await asyncio.sleep(1)
    finally:
        tail.cancel()


def run_demo(accounts: int, days: int, live_minutes: float, keep_running: bool) -> None:
    started = time.monotonic()
    click.echo("Starting the embedded broker and Redis ...")
    with EmbeddedStack() as stack, receivers() as got:
        web_port = free_port()
        settings = stack.settings(clock="event")
        rules = demo_rules(Path(settings.data_dir), got)
        env = {
            **stack.env(),
            **got.env(),
            "ABM_WEB_PORT": str(web_port),
            "ABM_SESSION_TIMEOUT_S": "6",
            "ABM_HEARTBEAT_INTERVAL_S": "1",
            "ABM_TICK_INTERVAL_S": "5",
            "ABM_LOG_LEVEL": "warning",
            "ABM_CONFIG_FILE": str(rules),
            "ABM_VIEW_PORT": str(free_port()),
            **EVENT_CLOCK,
            **IDENTITY,
        }
        asyncio.run(ensure_topics(settings))
        logs = Path(settings.data_dir)
        worker = start_worker(env, logs / "demo-worker.log", with_view=False)
        view = start_view(env, logs / "demo-view.log")
        children = (worker, view)
        try:
            click.echo(f"Worker ready in {worker.wait_ready():.1f}s (log: {worker.log})")
            click.echo(f"View process ready in {view.wait_ready():.1f}s (log: {view.log})")
            world = World(seed=7, accounts=accounts, days=days, end=int(time.time() * 1000))
            profiles, rosters = world.profiles(), world.rosters()
            label = f"{accounts:,} account profiles"
            done = _load(settings, worker, label, [profiles], 0, len(profiles))
            done = _load(settings, worker, "contact rosters", [rosters], done, len(rosters))
            history = list(world.history())
            # With the sellers' answers to the alerts the demo's rules raise, as they come.
            answered = answered_history(
                world, Replay(rule_set(), world.end), profiles + rosters, history
            )
            _load(settings, worker, f"{days} days of history", answered, done, len(history))
            _website(settings, worker, world)
            click.echo(f"History loaded {time.monotonic() - started:.0f}s after start.")
            _summary(settings, view)
            click.echo(f"{got.summary()}; rules: {rules}")
            shell = {**stack.env(), **EVENT_CLOCK, **IDENTITY}
            click.echo(
                f"\nDashboard: http://127.0.0.1:{web_port}/dashboard\nIn another shell:\n"
                f"  export {' '.join(f'{k}={v}' for k, v in shell.items())}\n"
                "  abm kpis; abm lag; abm tail abm.surge-alerts.v1"
            )
            if not keep_running:
                return
            alive = [True]
            signal.signal(signal.SIGINT, lambda *_: alive.__setitem__(0, False))
            signal.signal(signal.SIGTERM, lambda *_: alive.__setitem__(0, False))
            if live_minutes > 0:
                click.echo(f"\nLive traffic for {live_minutes:g} min; new surge alerts:")
                asyncio.run(_live(settings, world, live_minutes, alive, got))
            if alive[0]:
                click.echo("Live traffic over; still serving. Ctrl-C stops everything.")
                wait_for_stop(lambda: all(c.proc.poll() is None for c in children))
            click.echo("Stopping the worker and the view, then the broker and Redis ...")
        finally:
            for child in children:
                child.stop()
