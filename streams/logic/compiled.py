"""Which build of this package runs: the mypyc-compiled one, when it was built from exactly
these sources, else the sources themselves.

A build is only a cache of the sources (`abm kernel` makes it, streams/dev/kernel.py): it
lives in build/kernel/<digest of the sources>/ and is used only while the sources still
have that digest, so an edited module runs interpreted at once, never from a stale build.
ABM_PURE_PYTHON=1 runs the interpreted sources regardless. This module and the package's
`__init__` stay interpreted: they choose the build before any compiled module loads.
"""

import hashlib
import os
import sys
import sysconfig
from pathlib import Path

__all__ = [
    "INTERPRETED",
    "KERNELS",
    "LOGIC",
    "PURE_ENV",
    "activate",
    "built",
    "compiled",
    "digest",
    "mode",
    "sources",
]

LOGIC = Path(__file__).resolve().parent
KERNELS = LOGIC.parent.parent / "build" / "kernel"
PURE_ENV = "ABM_PURE_PYTHON"

INTERPRETED = ("__init__.py", "compiled.py", "roster.py", "routes.py", "rules.py", "state.py")
"""Modules left to the interpreter. state.py, roster.py: orjson writes a dataclass from
its slots, and a compiled class has none of the layout it expects (the worker crashed storing one).
rules.py, routes.py: pydantic models, which mypyc cannot compile into native classes."""


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
