"""The compiled logic is a cache of its sources: used only for the exact sources it was
built from, and deciding exactly what they decide."""

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.compiled import LOGIC, PURE_ENV, activate, built, compiled, digest, sources
from tests.history import DAY, generate, write_jsonl

NOW = int(time.time() * 1000)
TIMING = ("seconds", "events_per_s")


def _logic(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    logic, kernels = tmp_path / "logic", tmp_path / "kernels"
    logic.mkdir()
    for name, text in files.items():
        (logic / name).write_text(text)
    (logic / "__init__.py").write_text("")
    return logic, kernels


def _fake_build(logic: Path, kernels: Path) -> None:
    """What a build leaves, for the digest of the sources as they are now."""
    (kernels / digest(logic) / "logic").mkdir(parents=True)


source_files = st.dictionaries(
    st.sampled_from(["apply.py", "tiering.py", "surge.py"]), st.text(max_size=40), min_size=1
)


@settings(max_examples=25, deadline=None)
@given(files=source_files, edit=st.text(min_size=1, max_size=5))
def test_a_build_is_used_only_for_the_sources_it_was_built_from(tmp_path_factory, files, edit):
    tmp = tmp_path_factory.mktemp("kernel")
    logic, kernels = _logic(tmp, files)
    assert not activate([], logic=logic, kernels=kernels)  # nothing built yet
    _fake_build(logic, kernels)
    path: list[str] = []
    assert activate(path, logic=logic, kernels=kernels)
    assert path[0].startswith(str(kernels))
    changed = logic / sorted(files)[0]
    changed.write_text(changed.read_text() + edit)  # any edit makes the build stale
    assert built(logic, kernels) is None
    assert not activate([], logic=logic, kernels=kernels)


def test_pure_python_can_be_forced(tmp_path, monkeypatch):
    logic, kernels = _logic(tmp_path, {"apply.py": "x = 1\n"})
    _fake_build(logic, kernels)
    monkeypatch.setenv(PURE_ENV, "1")
    assert not activate([], logic=logic, kernels=kernels)
    monkeypatch.setenv(PURE_ENV, "0")
    assert activate([], logic=logic, kernels=kernels)


def _replay(directory: Path, pure: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (PURE_ENV, "ABM_CONFIG_FILE")}
    env[PURE_ENV] = "1" if pure else "0"
    out = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--input-dir", str(directory), "--json"],
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    ).stdout
    return {k: v for k, v in json.loads(out).items() if k not in TIMING}


@pytest.mark.skipif(built() is None, reason="no compiled logic: `abm kernel` has not built it")
@pytest.mark.parametrize("seed", [5, 11])
def test_compiled_logic_decides_what_the_source_decides(tmp_path, seed):
    assert compiled()  # this process runs it too: the rest of the suite tests it
    write_jsonl(tmp_path, generate(seed, accounts=150, days=120, end=NOW - DAY))
    interpreted, native = _replay(tmp_path, pure=True), _replay(tmp_path, pure=False)
    assert (interpreted.pop("logic"), native.pop("logic")) == ("interpreted", "compiled")
    assert native == interpreted
    assert native["transitions"]
    assert native["alerts"]
    assert native["duplicates"]


@pytest.mark.skipif(built() is None, reason="no compiled logic: `abm kernel` has not built it")
def test_every_module_of_every_logic_package_is_built_and_runs_compiled():
    """A package the build does not recurse into, or one whose __init__ does not put its
    part of the build on its path, would run interpreted without a word."""
    build = built()
    assert build is not None
    names = {p.relative_to(LOGIC).with_suffix("").as_posix() for p in sources()}
    made = {
        p.relative_to(build / "logic").as_posix().split(".")[0]
        for p in (build / "logic").rglob("*.so")
    }
    assert made == names
    assert {n.split("/")[0] for n in names} >= {"state", "signals", "kpis", "inputs"}
    for name in names:
        module = importlib.import_module("streams.logic." + name.replace("/", "."))
        assert str(module.__file__).endswith(".so"), name
