"""`abm kernel`: the pure logic (streams/logic) compiled to C with mypyc, when a C compiler
is at hand.

Every decision (windows, tiers, surges, KPI contributions) is plain Python and bounds a
replay's speed: compiled from the same annotated source it runs faster per process
(bench/README.md) and decides exactly the same (the kernel tests). Classes made at every
event are plain classes, not dataclasses: mypyc compiles their constructors, while a
dataclass's is generated Python. The sources stay the truth; a build is only a cache of
them, and streams/compiled.py decides whether a build matches them.

`make` runs this before the demo, the tests and the benchmarks; it builds into
build/kernel/<digest of the sources>/ (logic/: the modules; runtime/: mypyc's shared part).
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from streams.compiled import KERNELS, LOGIC, built, digest, sources

__all__ = ["KernelBuildError", "build"]

_SETUP = """
import sys
from mypyc.build import mypycify
from setuptools import setup

out, temp, *sources = sys.argv[1:]
setup(
    name="abm-logic-kernel",
    ext_modules=mypycify(sources, opt_level="3", target_dir=temp),
    script_args=["build_ext", "--build-lib", out, "--build-temp", temp],
)
"""


class KernelBuildError(RuntimeError):
    """mypyc or the C compiler refused; the message carries the end of their output."""


def build(logic: Path = LOGIC, kernels: Path = KERNELS) -> Path:
    """Compile the current sources (a no-op when built); older builds are removed."""
    done = built(logic, kernels)
    if done is not None:
        return done
    kernels.mkdir(parents=True, exist_ok=True)
    target = kernels / digest(logic)
    with tempfile.TemporaryDirectory(dir=kernels, prefix=".building-") as work:
        out, temp = Path(work, "out"), Path(work, "temp")
        # In a scratch directory: setuptools would read the project's pyproject.toml.
        result = subprocess.run(
            [sys.executable, "-c", _SETUP, str(out), str(temp), *map(str, sources(logic))],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise KernelBuildError("\n".join(tail))
        staged = Path(work, "kernel")
        (staged / "runtime").mkdir(parents=True)
        for shared in out.glob("*__mypyc.*"):
            shared.rename(staged / "runtime" / shared.name)
        (out / "streams" / "logic").rename(staged / "logic")
        try:
            staged.rename(target)
        except OSError:  # another build of the same sources finished first
            if built(logic, kernels) is None:
                raise
    for old in kernels.iterdir():
        if old.is_dir() and old != target and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return target
