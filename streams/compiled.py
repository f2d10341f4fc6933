"""Which build of the pure logic (streams/logic) runs: the mypyc-compiled one, when it was
built from exactly these sources, else the sources themselves.

A build is only a cache of the sources (`abm kernel` makes it, streams/dev/kernel.py): it
lives in build/kernel/<digest of the sources>/ and is used only while the sources still
have that digest, so an edited module runs interpreted at once, never from a stale build.
ABM_PURE_PYTHON=1 runs the interpreted sources regardless. This module and the packages'
`__init__`s stay interpreted: each package puts its part of the build first on its own
path as it is imported, before any compiled module of it loads.
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

LOGIC = Path(__file__).resolve().parent / "logic"
KERNELS = LOGIC.parent.parent / "build" / "kernel"
PURE_ENV = "ABM_PURE_PYTHON"

INTERPRETED = (
    "state/roster.py",
    "rules.py",
    "routes.py",
    "state/state.py",
    "identity/segment.py",
)
"""Modules left to the interpreter, besides the packages' `__init__`s. state.py, roster.py:
orjson writes a dataclass from its slots, and a compiled class has none of the layout it
expects (the worker crashed storing one). rules.py, routes.py, identity/segment.py:
pydantic models, which mypyc cannot compile into native classes."""


def sources(logic: Path = LOGIC) -> list[Path]:
    """Every module the build compiles, in every package of the logic."""
    return sorted(
        p
        for p in logic.rglob("*.py")
        if p.name != "__init__.py" and p.relative_to(logic).as_posix() not in INTERPRETED
    )


def digest(logic: Path = LOGIC) -> str:
    """Of the sources and the interpreter's extension ABI: what a build is valid for."""
    h = hashlib.sha256(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    for path in sources(logic):
        name = path.relative_to(logic).as_posix()
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def built(logic: Path = LOGIC, kernels: Path = KERNELS) -> Path | None:
    """The build of the current sources, if there is one."""
    where = kernels / digest(logic)
    return where if (where / "logic").is_dir() else None


def activate(
    package_path: list[str], package: str = "", logic: Path = LOGIC, kernels: Path = KERNELS
) -> bool:
    """Put the current build of the logic's `package` ("" for the logic itself, else a
    sub-package's name) first on its path; False when the source must run (no build of
    these sources, or ABM_PURE_PYTHON set)."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return False
    where = built(logic, kernels)
    if where is None:
        return False
    package_path.insert(0, str(where / "logic" / package))
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
