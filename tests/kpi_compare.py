"""Comparing KPI reports: counts exactly, money and ratios to 1e-9, and every key present;
and the report (with what the rules decided) of rows replayed in the order they are given."""

import copy
import math
from collections import Counter
from dataclasses import dataclass

import orjson

from streams.clients.produce_tail import owner_key
from streams.logic.inputs.decode import Coords, InputKind
from streams.logic.inputs.records import decode_record
from streams.logic.kpis.kpi_report import report
from streams.logic.kpis.kpis import contribution, spend_contribution
from streams.logic.rules import Rules
from streams.replay.engine import Item, Replay
from tests.history import Journey

__all__ = ["Replayed", "assert_same_kpis", "kpi_differences", "order_free", "replay_rows"]


@dataclass
class Replayed:
    """A replay's report, and what the ground truth takes from the rules' decisions."""

    kpis: dict
    tiers: dict[str, int]
    journeys: dict[str, Journey]
    alerts: list[dict]
    outcomes: list[dict]


def replay_rows(rows: list[tuple[str, dict]], rules: Rules, now: int) -> Replayed:
    """Each (kind, payload) row taken record by record through the dispatch the agents call
    (`decode_record`, `take`), in the order given, as one partition of each topic, with
    no staleness ticks; `now` is the wall clock and when the records were written."""
    engine = Replay(rules, now, ticks=False)
    for offset, (name, payload) in enumerate(rows):
        kind = InputKind(name)
        record = decode_record(kind, owner_key(payload), orjson.dumps(payload))
        coords = Coords(kind, 0, offset, now)
        engine.feed(Item(kind, coords, 0, record, owner=record.owner))
    accounts, campaigns, rosters = engine.accounts, engine.campaigns, engine.rosters
    total: Counter[str] = Counter()
    for account, state in accounts.items():
        total.update(contribution(state, rules, roster=rosters.get(account)))
    for state in campaigns.values():
        total.update(spend_contribution(state.account_id, state.spend))
    as_of = max(s.clock for s in [*accounts.values(), *campaigns.values()])
    return Replayed(
        kpis=report(dict(total), as_of, rules),
        tiers={a: s.tier for a, s in accounts.items()},
        journeys={a: (s.stage, dict(s.reached)) for a, s in accounts.items()},
        alerts=[a.model_dump(mode="json") for a in engine.alerts],
        outcomes=[o.model_dump(mode="json") for o in engine.alert_outcomes],
    )


def kpi_differences(got: object, want: object, path: str = "") -> list[str]:
    if isinstance(got, dict) and isinstance(want, dict):
        out = [
            f"{path}/{k}: missing in {'got' if k not in got else 'want'}"
            for k in sorted(set(got) ^ set(want), key=str)
        ]
        for key in sorted(set(got) & set(want), key=str):
            out += kpi_differences(got[key], want[key], f"{path}/{key}")
        return out
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [
            d
            for i, pair in enumerate(zip(got, want, strict=True))
            for d in kpi_differences(*pair, f"{path}/{i}")
        ]
    if isinstance(got, float) or isinstance(want, float):
        if not (isinstance(got, int | float) and isinstance(want, int | float)):
            return [f"{path}: {got!r} != {want!r}"]
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9):
            return [f"{path}: {got!r} != {want!r}"]
        return []
    return [] if got == want and type(got) is type(want) else [f"{path}: {got!r} != {want!r}"]


def assert_same_kpis(got: dict, want: dict) -> None:
    differences = kpi_differences(got, want)
    assert not differences, "\n".join(differences[:30])


def without_alerts(kpis: dict) -> dict:
    """A copy of the report without what followed the alerts (each scope's and the
    owners'), for a comparison whose records were sent all at once (see order_free)."""
    kpis = copy.deepcopy(kpis)
    del kpis["owners"]
    for scope in [kpis["overall"], kpis["targets"], *kpis["tiers"].values()]:
        del scope["alerts"]
    return kpis


def order_free(kpis: dict) -> dict:
    """The report without when journey steps were first reached: those are dated by when
    the engine first placed an account there, so a different arrival order (topics read
    one after another, a live worker against a replay merged by event time) dates them
    differently. The stages accounts stand at now are kept.

    Without the alerts, too (each scope's and the owners'): an alert is raised at its
    account's clock when the surge is seen there, and what follows it counts until that
    clock reaches its horizon; read in another order, a topic ahead of the others moves
    the clocks on, so other alerts are raised and other events fall within their watch."""
    kpis = without_alerts(kpis)
    for scope in [kpis["overall"], kpis["targets"], *kpis["tiers"].values()]:
        scope["journey"] = scope["journey"]["accounts_by_stage"]
    for day in kpis["daily"].values():
        del day["stage_entries"]
    kpis["daily"] = {d: row for d, row in kpis["daily"].items() if any(row.values())}
    return kpis
