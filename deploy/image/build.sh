#!/usr/bin/env bash
# The worker image's build, in one place. The Dockerfile runs it; CI runs it outside Docker
# in a fresh virtualenv (tests/unit/test_image_build.py), since no machine of ours has a
# Docker daemon: without that the image's recipe would never run before a deploy.
#
#   deploy/image/build.sh [--verify-only] [PYTHON]
#
# PYTHON: the interpreter whose environment receives the worker (default: `python` on PATH,
# the image's /usr/local/bin/python). Give it a fresh environment: the package is installed
# into it non-editable, as the image runs it. Run it from a clean copy of the sources: pip
# builds in the source tree (build/, *.egg-info). Needs a C compiler and Python's headers.
#
# 1. Install the package with its production extra, .[rocksdb] (ABM_STORE=rocksdb://).
# 2. Compile the pure logic (streams/logic) with mypyc: `abm kernel --strict`, so a logic
#    that cannot be compiled fails the build instead of leaving an image that runs it
#    interpreted (slower, and nothing would say so).
# 3. Verify, from the installed package, that the logic runs compiled.
# --verify-only: step 3 alone (the Dockerfile repeats it once the compiler is removed).
#
# Where the compiled logic lives: streams/compiled.py uses a build of exactly the logic's
# sources (their digest names it) from build/kernel/ beside the `streams` package it was
# imported from: for the installed package, <site-packages>/build/kernel/<digest>/. The
# build is made from the sources here and copied there (same bytes, so the same digest).
set -euo pipefail

verify_only=0
if [[ ${1:-} == --verify-only ]]; then
  verify_only=1
  shift
fi
if (($# > 1)); then
  echo "usage: $0 [--verify-only] [PYTHON]" >&2
  exit 2
fi
py=$(command -v "${1:-python}") || {
  echo "$0: no such interpreter: ${1:-python}" >&2
  exit 2
}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The environment's console scripts (a venv's bin/, the image's /usr/local/bin): `abm` there
# is the entry point the image's CMD runs.
scripts=$("$py" -P -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
# ABM_PURE_PYTHON=1 runs the logic interpreted on purpose; this checks the build, not that.
unset ABM_PURE_PYTHON
# Every `python` below runs with -P: the working directory (often these sources) must not
# come first on sys.path, or the checks would import the sources instead of the installed
# package, which is what the image runs.

if ((!verify_only)); then
  # 1. The package and its runtime dependencies (pinned in pyproject.toml).
  "$py" -m pip install --progress-bar off "$root[rocksdb]"

  # 2. The compiled logic. mypy (mypyc) and setuptools (which builds the extension modules)
  # are needed only for this, at the versions the `dev` extra pins. They go into the
  # environment itself (from a scratch directory on PYTHONPATH, mypy refuses to build), and
  # what they added is uninstalled after: the image does not carry them, and step 3 proves
  # the compiled logic runs without them.
  pins=$("$py" -P - "$root/pyproject.toml" <<'EOF'
import re
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    dev = tomllib.load(f)["project"]["optional-dependencies"]["dev"]
pins = {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower(): r for r in dev}
print("\n".join(pins[name] for name in ("mypy", "setuptools")))
EOF
  )
  mapfile -t pins <<<"$pins"
  installed_names() {
    "$py" -P -c 'import importlib.metadata as m
print("\n".join(sorted({d.metadata["Name"].lower() for d in m.distributions()})))'
  }
  runtime=$(installed_names)
  # Only what the tools brought in (an upgraded setuptools stays: the environment had one),
  # and also when the build fails: a later run would take them for the environment's own.
  remove_tools() {
    local added
    added=$(LC_ALL=C comm -13 <(echo "$runtime") <(installed_names))
    if [[ -n $added ]]; then
      mapfile -t added <<<"$added"
      "$py" -m pip uninstall --yes "${added[@]}"
    fi
  }
  trap remove_tools EXIT
  "$py" -m pip install --progress-bar off "${pins[@]}"
  # Built from the sources here (first on PYTHONPATH), into ./build/kernel/: mypyc cannot
  # compile the installed copy (mypy takes all of site-packages for the project's own code,
  # and stops at its typing_extensions.py). --strict: without it a build that fails only
  # warns, and the logic runs interpreted.
  PYTHONPATH=$root "$scripts/abm" kernel --strict
  trap - EXIT
  remove_tools
  # Nothing left behind needed what was removed.
  "$py" -m pip check
  # Beside the installed package, where it looks (see above); step 3 checks it is used.
  built=$(PYTHONPATH=$root "$py" -P -c \
    'from streams.compiled import built; print(built() or "")')
  installed=$("$py" -P -c 'from streams.compiled import KERNELS; print(KERNELS)')
  [[ -n $built ]] || { echo "abm kernel left no build in $root/build/kernel" >&2; exit 1; }
  mkdir -p "$installed"
  rm -rf "${installed:?}/$(basename "$built")"
  cp -R "$built" "$installed/"
fi

# 3. The entry point works, and a fresh process of the installed package runs the compiled
# logic: the modules are extension modules from the build, and they decide.
"$scripts/abm" --help >/dev/null
kernel=$("$py" -P - "$root" <<'EOF'
import sys
import sysconfig
from datetime import UTC, datetime, timedelta
from pathlib import Path

import streams.logic
from schemas.inputs import AccountProfile, IntentEvent
from streams import compiled
from streams.logic.inputs import apply
from streams.logic.inputs.decode import Coords
from streams.logic.rules import Rules

package = Path(streams.logic.__file__).resolve().parent
if package == Path(sys.argv[1]).resolve() / "streams" / "logic":
    sys.exit(f"the logic was imported from the sources ({package}), not the installed package")
if compiled.mode() != "compiled":
    sys.exit(f"the logic runs interpreted: no build of {package} in {compiled.KERNELS}")
native = Path(apply.__file__)
if not native.name.endswith(sysconfig.get_config_var("EXT_SUFFIX")):
    sys.exit(f"streams.logic.inputs.apply is not compiled: {native}")

# A smoke of the compiled decisions: a profile, an intent signal, and its redelivery.
now = datetime.now(UTC)
wall = int(now.timestamp() * 1000)
rules = Rules()
profile = AccountProfile.model_validate(
    {"account_id": "acme", "name": "Acme", "fit_score": 90, "expected_acv": 80000}
)
state = apply.apply_event(None, profile, Coords("abm.accounts.v1", 0, 0, wall), rules, wall).state
intent = IntentEvent.model_validate(
    {
        "event_id": "i-1",
        "account_id": "acme",
        "provider": "g2",
        "topic": "crm",
        "score": 80,
        "occurred_at": (now - timedelta(hours=1)).isoformat(),
    }
)
where = Coords("abm.intent.v1", 0, 7, wall)
first = apply.apply_event(state, intent, where, rules, wall)
again = apply.apply_event(first.state, intent, where, rules, wall)
if not (first.write and not first.duplicate and again.duplicate and not again.write):
    sys.exit("the compiled logic decided wrongly on a smoke test")
print(compiled.built())
EOF
)
# The image runs as `nobody`: everything of the build must be readable (and its directories
# searchable) by others, whatever the umask it was built under.
unreadable=$(find "$(dirname "$(dirname "$kernel")")" \
  \( -type d ! -perm -o=rx \) -o \( ! -type d ! -perm -o=r \) -print)
if [[ -n $unreadable ]]; then
  echo "not readable by other users (the image's worker runs as nobody):" >&2
  echo "$unreadable" >&2
  exit 1
fi
echo "compiled logic verified: $kernel" >&2
