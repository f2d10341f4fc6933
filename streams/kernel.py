"""The pure logic (streams/logic) compiled to C with mypyc, when a C compiler is at hand.

Every decision (windows, tiers, surges, KPI contributions) is plain Python and bounds a
replay's speed: compiled from the same annotated source it runs ~1.4x faster per process
(bench/HISTORY.md) and decides exactly the same (tests/test_kernel.py). Classes made at
every event are plain classes, not dataclasses: mypyc compiles their constructors, while
a dataclass's is generated Python. The sources stay
the truth; a build is only a cache of them.

`abm kernel` (run by `make` before the demo, the tests and the benchmarks) builds it into
build/kernel/<digest of the sources>/ (logic/: the modules; runtime/: mypyc's shared
part). `streams/logic/__init__.py` uses a build only while the sources still have its
digest, so an edited module runs interpreted at once, never from a stale build.
ABM_PURE_PYTHON=1 runs the interpreted source regardless.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

__all__ = [
    "KernelBuildError",
    "activate",
    "build",
    "built",
    "compiled",
    "digest",
    "mode",
    "sources",
]

LOGIC = Path(__file__).resolve().parent / "logic"
KERNELS = Path(__file__).resolve().parent.parent / "build" / "kernel"
PURE_ENV = "ABM_PURE_PYTHON"

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


INTERPRETED = ("__init__.py", "state.py")
"""state.py stays Python: orjson writes a dataclass from its slots, and a compiled class
has none of the layout it expects (the worker crashed storing one)."""


def sources(logic: Path = LOGIC) -> list[Path]:
    return sorted(p for p in logic.glob("*.py") if p.name not in INTERPRETED)


def digest(logic: Path = LOGIC) -> str:
    """Of the sources and the interpreter's extension ABI: what a build is valid for."""
    h = hashlib.sha256(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    for path in sources(logic):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def built(logic: Path = LOGIC, kernels: Path = KERNELS) -> Path | None:
    """The build of the current sources, if there is one."""
    where = kernels / digest(logic)
    return where if (where / "logic").is_dir() else None


def activate(package_path: list[str], logic: Path = LOGIC, kernels: Path = KERNELS) -> bool:
    """Put the current build first on the logic package's path; False when the source
    must run (no build of these sources, or ABM_PURE_PYTHON set)."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return False
    where = built(logic, kernels)
    if where is None:
        return False
    package_path.insert(0, str(where / "logic"))
    # mypyc's shared runtime is a top-level module; alone in its directory, because a
    # `streams` directory on sys.path would shadow the package in spawned processes.
    if str(where / "runtime") not in sys.path:
        sys.path.append(str(where / "runtime"))
    return True


def compiled() -> bool:
    """Whether this process runs the compiled logic: the logic package activates a build,
    if any, as it is imported (so any caller that uses the logic has imported it)."""
    logic = sys.modules.get("streams.logic")
    return logic is not None and any(p.startswith(str(KERNELS)) for p in logic.__path__)


def mode() -> str:
    """How the logic runs in this process, as replay summaries and benchmarks report it."""
    return "compiled" if compiled() else "interpreted"


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
