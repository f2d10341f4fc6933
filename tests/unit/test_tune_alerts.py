"""Alerts as `abm tune` counts them (streams/tune/alerts.py), against a plain reading of
the definitions over random alert lists: reissues, held-out alerts, alerts of accounts
with no owner, opportunities before, at and after an alert and past its horizon."""

import math
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.tune.alerts import KINDS, Tally, alert_score, alert_sums, tally
from streams.tune.interval import lift

DAY = 86_400_000
FIRST, DAYS = 20_000, 40
ACCOUNTS = ["a", "b", "c", "d"]


def iso(at: int) -> str:
    return datetime.fromtimestamp(at / 1000, UTC).isoformat().replace("+00:00", "Z")


@st.composite
def histories(draw):
    """Alerts (some reissued, always as the same kind) and opportunities' creation times."""
    alerts = []
    for n in range(draw(st.integers(0, 25))):
        at = FIRST * DAY + draw(st.integers(-5 * DAY, (DAYS + 5) * DAY))
        alert = {
            "alert_id": f"id-{n}",
            "account_id": draw(st.sampled_from(ACCOUNTS)),
            "owner": draw(st.sampled_from([None, "ann", "bob"])),
            "kind": draw(st.sampled_from(KINDS)),
            "holdout": draw(st.booleans()),
            "reissue_of": None,
            "detected_at": iso(at),
        }
        if alerts and draw(st.booleans()):  # a reissue of an earlier alert, to its owner
            was = draw(st.sampled_from(alerts))
            alert |= {
                "account_id": was["account_id"],
                "kind": was["kind"],
                "reissue_of": was["alert_id"],
                "owner": "cy",
            }
        alerts.append(alert)
    created = {
        account: sorted(
            draw(st.lists(st.integers(FIRST * DAY, (FIRST + DAYS + 30) * DAY), max_size=4))
        )
        for account in ACCOUNTS
    }
    # An opportunity created at an alert's own moment does not follow it.
    if alerts and draw(st.booleans()):
        alert = alerts[0]
        at = int(datetime.fromisoformat(alert["detected_at"]).timestamp() * 1000)
        created[alert["account_id"]] = sorted([*created[alert["account_id"]], at])
    return alerts, created


def at_of(alert) -> int:
    return int(datetime.fromisoformat(alert["detected_at"]).timestamp() * 1000)


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(0, 10), st.integers(1, DAYS), st.integers(1, 60))
def test_a_tally_counts_what_the_definitions_say(history, start, length, horizon):
    alerts, created = history
    period = (FIRST + start, FIRST + start + length)
    got = tally(alerts, created, period, horizon)
    inside = [a for a in alerts if period[0] <= at_of(a) // DAY < period[1]]
    raised = [a for a in inside if a["reissue_of"] is None]
    assert got.alerts() == len(raised)
    for kind in KINDS:
        for account in ACCOUNTS:
            mine = [a for a in raised if a["kind"] == kind and a["account_id"] == account]
            followed = [
                a
                for a in mine
                if any(at_of(a) < c < at_of(a) + horizon * DAY for c in created[account])
            ]
            assert got.raised[kind, account] == len(mine)
            assert got.followed[kind, account] == len(followed)
    reissued = {a["reissue_of"] for a in alerts if a["reissue_of"]}
    heard = [
        a
        for a in inside
        if a["owner"] is not None and not a["holdout"] and a["alert_id"] not in reissued
    ]
    assert sum(got.heard.values()) == len(heard)
    for owner in ("ann", "bob", "cy"):
        weeks = [(at_of(a) // DAY - period[0]) // 7 for a in heard if a["owner"] == owner]
        for week in set(weeks):
            assert got.loads()[owner, week] == weeks.count(week)
    assert got.most_per_owner_week() == max(got.loads().values(), default=0)


@settings(max_examples=200, deadline=None)
@given(histories(), st.integers(1, 60))
def test_each_kinds_alerts_add_up_to_all_of_them(history, horizon):
    """What the surge search rests on: one rule set's intent alerts and another's
    engagement alerts add up as one rule set's alerts of both kinds would."""
    alerts, created = history
    period = (FIRST, FIRST + DAYS)
    whole = tally(alerts, created, period, horizon)
    parts = [tally([a for a in alerts if a["kind"] == k], created, period, horizon) for k in KINDS]
    assert parts[0] + parts[1] == whole
    for kind, part in zip(KINDS, parts, strict=True):
        assert whole.only({kind}) == part


@settings(max_examples=200, deadline=None)
@given(histories(), st.integers(1, 60))
def test_alert_sums_give_the_alerts_rate_over_any_days(history, horizon):
    alerts, created = history
    got = tally(alerts, created, (FIRST, FIRST + DAYS), horizon)
    rng = np.random.default_rng(len(alerts))
    days = rng.integers(0, 50, size=(len(ACCOUNTS), 4))
    days[:, 1] = np.minimum(days[:, 1], days[:, 0])
    days[:, 3] = np.minimum(days[:, 3], days[:, 2])
    sums = alert_sums(got, ACCOUNTS, days)
    assert sums[:, 0].sum() == got.alerts()
    assert sums[:, 1].sum() == got.hits()
    every, hit = days[:, 0].sum() + days[:, 2].sum(), days[:, 1].sum() + days[:, 3].sum()
    value = lift(sums).value
    if got.alerts() and hit:
        assert value is not None
        assert math.isclose(value, (got.hits() / got.alerts()) / (hit / every))
    else:
        assert value is None


@given(st.integers(0, 50), st.integers(0, 50), st.floats(0.01, 0.9))
def test_the_score_rises_with_hits_and_is_one_without_alerts(alerts, hits, base):
    hits = min(hits, alerts)
    made = Tally()
    made.raised["intent", "a"] = alerts
    made.followed["intent", "a"] = hits
    assert math.isclose(alert_score(Tally(), base), 1.0)
    better = Tally(made.raised.copy(), made.followed.copy())
    better.raised["intent", "a"] += 1
    better.followed["intent", "a"] += 1
    assert alert_score(better, base) > alert_score(made, base)
    assert alert_score(made, 0.0) == 0.0
