"""Comparing KPI reports: counts exactly, money and ratios to 1e-9, and every key present."""

import copy
import math

__all__ = ["assert_same_kpis", "kpi_differences", "order_free"]


def kpi_differences(got: object, want: object, path: str = "") -> list[str]:
    if isinstance(got, dict) and isinstance(want, dict):
        out = [
            f"{path}/{k}: missing in {'got' if k not in got else 'want'}"
            for k in sorted(set(got) ^ set(want), key=str)
        ]
        for key in sorted(set(got) & set(want), key=str):
            out += kpi_differences(got[key], want[key], f"{path}/{key}")
        return out
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


def order_free(kpis: dict) -> dict:
    """The report without when journey steps were first reached: those are dated by when
    the engine first placed an account there, so a different arrival order (topics read
    one after another, a live worker against a replay merged by event time) dates them
    differently. The stages accounts stand at now are kept."""
    kpis = copy.deepcopy(kpis)
    for scope in [kpis["overall"], kpis["targets"], *kpis["tiers"].values()]:
        scope["journey"] = scope["journey"]["accounts_by_stage"]
    for day in kpis["daily"].values():
        del day["stage_entries"]
    kpis["daily"] = {d: row for d, row in kpis["daily"].items() if any(row.values())}
    return kpis
