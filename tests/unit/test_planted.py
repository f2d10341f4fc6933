"""The planted history: the rule it plants is there as the engine sees it, and a history
without it holds no such difference.

Each history is replayed through the real engine under a tier table whose tier 1 is the
planted rule exactly (fit 100 is every ICP criterion met, and the profiles meet all but
country and revenue): the account-days an account spends in tier 1 are then the days the
rule held, read from the engine's own tier transitions, not from the generator's notes.
"""

from bisect import bisect_right
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from schemas.common import to_ms
from streams.config import Settings
from streams.dev.planted import DAY, History, Planted, write_history
from streams.logic.rules import Icp, Rules, TierRule
from streams.replay.command import replay
from streams.replay.run import Window

SEED = 3
ACCOUNTS, DAYS = 500, 200
PLANTED = Planted()


def planted_rules(planted: Planted) -> Rules:
    """Tier 1 when, and only when, the planted rule holds."""
    icp = Icp(countries=[planted.country], min_annual_revenue=planted.min_revenue)
    rule = TierRule(tier=1, name="planted", min_fit=100, require_personas=[planted.persona])
    return Rules(icp=icp, tiers=[rule])


def lines(directory: Path, kind: str) -> list[dict]:
    return [orjson.loads(line) for line in (directory / f"{kind}.jsonl").read_bytes().splitlines()]


def replayed(directory: Path) -> dict:
    rules = planted_rules(PLANTED)
    return replay(Settings(), rules, directory, Window(), ticks=True, workers=1)


def rates(directory: Path, history: History, result: dict) -> tuple[int, float, int, float]:
    """(opportunities created in tier 1, account-days in tier 1, the others, the other
    account-days), by the replay's tier transitions."""
    end = history.start_ms + history.days * DAY
    changes: dict[str, list[tuple[int, int]]] = {}
    for change in sorted(result["transitions"], key=lambda c: (c["account_id"], c["version"])):
        at = to_ms(datetime.fromisoformat(change["changed_at"]))
        changes.setdefault(change["account_id"], []).append((at, change["tier"]))
    in_tier = 0
    for timeline in changes.values():
        bounds = [*timeline, (end, 0)]
        in_tier += sum(b[0] - a[0] for a, b in pairwise(bounds) if a[1] == 1)
    created = {}
    for deal in lines(directory, "deals"):
        created.setdefault(deal["opportunity_id"], (deal["account_id"], deal["occurred_at"]))
    hits = 0
    for account, at in created.values():
        timeline = changes.get(account, [])
        before = bisect_right([t for t, _ in timeline], at)
        hits += before > 0 and timeline[before - 1][1] == 1
    tier_days = in_tier / DAY
    return hits, tier_days, len(created) - hits, history.accounts * history.days - tier_days


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, History, dict]:
    directory = tmp_path_factory.mktemp("planted")
    history = write_history(directory, accounts=ACCOUNTS, days=DAYS, seed=SEED, base_rate=0.005)
    return directory, history, replayed(directory)


@pytest.fixture(scope="module")
def null(tmp_path_factory) -> tuple[Path, History, dict]:
    directory = tmp_path_factory.mktemp("null")
    history = write_history(
        directory, accounts=ACCOUNTS, days=DAYS, seed=SEED, planted=None, base_rate=0.02
    )
    return directory, history, replayed(directory)


def test_the_engine_takes_every_record_and_counts_every_opportunity(planted):
    _, history, result = planted
    assert result["rejected"] == {}
    assert result["records"] == result["applied"] == sum(history.records.values())
    assert result["kpis"]["overall"]["opportunities_created"] == history.opportunities


def test_the_planted_segment_opens_opportunities_several_times_as_often(planted):
    directory, history, result = planted
    hits, tier_days, others, other_days = rates(directory, history, result)
    # The engine's tier 1 is the rule: the same opportunities, on (parts of) the same days.
    assert hits == history.planted_opportunities >= 20
    assert 0.8 * history.planted_days <= tier_days <= history.planted_days
    assert (hits / tier_days) / (others / other_days) > 2.5


def test_without_a_rule_the_segment_opens_opportunities_as_often_as_the_rest(null):
    directory, history, result = null
    assert result["rejected"] == {}
    hits, tier_days, others, other_days = rates(directory, history, result)
    assert hits == history.planted_opportunities >= 20
    assert 0.5 < (hits / tier_days) / (others / other_days) < 2


def test_a_seed_writes_the_same_files_and_the_rule_changes_only_the_deals(tmp_path):
    one, again, none = tmp_path / "one", tmp_path / "again", tmp_path / "none"
    history = write_history(one, accounts=40, days=60, seed=1, base_rate=0.05)
    write_history(again, accounts=40, days=60, seed=1, base_rate=0.05)
    write_history(none, accounts=40, days=60, seed=1, base_rate=0.05, planted=None)
    for kind in history.records:
        assert (one / f"{kind}.jsonl").read_bytes() == (again / f"{kind}.jsonl").read_bytes()
        same = (one / f"{kind}.jsonl").read_bytes() == (none / f"{kind}.jsonl").read_bytes()
        assert same == (kind != "deals")
    events = [e for kind in ("engagement", "intent", "deals") for e in lines(one, kind)]
    assert len({e["event_id"] for e in events}) == len(events)
    end = history.start_ms + history.days * DAY
    assert all(history.start_ms <= e["occurred_at"] < end for e in events)


def test_the_profiles_are_applied_when_the_history_begins(tmp_path):
    """A replay dates a profile's decision by its file's time: the start, not today."""
    history = write_history(tmp_path, accounts=40, days=30, seed=2)
    result = replay(Settings(), Rules(), tmp_path, Window(), ticks=True, workers=1)
    first = [c["changed_at"] for c in result["transitions"] if c["version"] == 1]
    assert len(first) > history.accounts / 2  # those fitting the default ICP: tier 3 at once
    assert {to_ms(datetime.fromisoformat(at)) for at in first} == {history.start_ms}


def test_a_persona_no_rule_names_is_refused():
    with pytest.raises(ValueError, match="persona 'buyer'"):
        Planted(persona="buyer")
