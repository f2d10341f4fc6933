"""The worker image's build (deploy/image/build.sh, which the Dockerfile runs) works, and
leaves a worker that runs the compiled logic: run here in a fresh virtualenv, since no
machine of ours has a Docker daemon to build the image itself.

From a copy of exactly what the Dockerfile copies into the image, the script installs the
package (from the package index: pip's cache is allowed here, not in the image), compiles
the logic with mypyc and checks it; the tests then use that environment as the image would.
The same environment first shows that a logic that cannot be compiled fails the build (no C
compiler: CC=false) and that the script's check refuses a worker that runs interpreted.

It takes a minute or two (two pip installs, two mypyc runs), so it runs only with
ABM_IMAGE_TEST=1 or ABM_IMAGE_TEST=required (.ci/run sets it, and `make test` then runs it).
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
SCRIPT = Path("deploy/image/build.sh")
EVENTS = REPO / "examples" / "events"

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("ABM_IMAGE_TEST") not in ("1", "required"),
        reason="slow (a virtualenv and pip installs): set ABM_IMAGE_TEST=1 to run",
    ),
    # The shared environment is built in the first test's setup: pip and mypyc take minutes.
    pytest.mark.timeout(1200),
]


@dataclass
class Image:
    src: Path
    venv: Path
    without_compiler: subprocess.CompletedProcess[str]
    interpreted: subprocess.CompletedProcess[str]
    build: subprocess.CompletedProcess[str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def abm(self) -> Path:
        return self.venv / "bin" / "abm"


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without what would point a process at this checkout, its
    virtualenv or its settings."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ABM_")}
    return env | extra


def _run(args: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(done.args)}  (exit {done.returncode})\n{done.stdout}{done.stderr}"


def _copy_as_the_dockerfile_does(src: Path) -> None:
    """The Dockerfile's COPY lines, which keep the repository's layout (the script finds the
    sources from where it is)."""
    copies = [
        line.split()[1:]
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert copies
    for *sources, dest in copies:
        for name in sources:
            origin = REPO / name
            # A directory's contents go into `dest`, files into it when it ends with /.
            same = (name, f"./{name}") if origin.is_dir() else ("./", f"./{name}", name)
            assert dest.rstrip("/") in same or dest in same, f"COPY {name} {dest}"
            if origin.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(origin, src / name, ignore=ignore)
            else:
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, src / name)
    assert (src / SCRIPT).is_file(), "the Dockerfile does not copy the build script"
    assert f"{SCRIPT} python" in (REPO / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Image:
    tmp = tmp_path_factory.mktemp("image")
    src, venv = tmp / "src", tmp / "venv"
    _copy_as_the_dockerfile_does(src)
    made = _run([sys.executable, "-m", "venv", venv], tmp)
    assert made.returncode == 0, _output(made)
    python = venv / "bin" / "python"
    # The slim image without gcc: the logic cannot be compiled (CC names the C compiler).
    without_compiler = _run([src / SCRIPT, python], src, CC="false")
    interpreted = _run([src / SCRIPT, "--verify-only", python], src)
    build = _run([src / SCRIPT, python], src)
    assert build.returncode == 0, _output(build)
    return Image(src, venv, without_compiler, interpreted, build)


def test_a_logic_that_cannot_be_compiled_fails_the_build(image):
    done = image.without_compiler
    assert done.returncode != 0, _output(done)
    # It is the compilation that failed, not an earlier step.
    assert "the compiled logic could not be built" in done.stderr, _output(done)


def test_the_build_check_refuses_a_worker_that_runs_interpreted(image):
    done = image.interpreted  # the package installed, no build of its logic
    assert done.returncode != 0, _output(done)
    assert "the logic runs interpreted" in done.stderr, _output(done)


def test_the_build_leaves_the_compiled_logic_beside_the_installed_package(image):
    assert "compiled logic verified" in image.build.stderr, _output(image.build)
    probe = (
        "import json, streams.logic.inputs.apply as a, streams.compiled as c;"
        "print(json.dumps([c.mode(), a.__file__, str(c.KERNELS)]))"
    )
    done = _run([image.python, "-c", probe], image.venv)
    assert done.returncode == 0, _output(done)
    mode, module, kernels = json.loads(done.stdout)
    assert mode == "compiled"
    site = image.venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert Path(kernels) == site / "site-packages" / "build" / "kernel"
    assert Path(module).is_relative_to(kernels)
    assert Path(module).suffix == ".so"
    # What only the build needed is gone; the sources' own build/ is not where it runs from.
    installed = _run([image.python, "-m", "pip", "list", "--format=json"], image.venv)
    names = {p["name"].lower() for p in json.loads(installed.stdout)}
    assert "mypy" not in names
    assert {"abm-signals", "rocksdict"} <= names


def test_the_installed_worker_command_runs(image):
    done = _run([image.abm, "--help"], image.venv)
    assert done.returncode == 0, _output(done)
    assert "worker" in done.stdout


def _replay(image: Image, **env: str) -> dict:
    done = _run([image.abm, "replay", "--input-dir", EVENTS, "--json"], image.venv, **env)
    assert done.returncode == 0, _output(done)
    return json.loads(done.stdout)


def test_a_replay_runs_compiled_and_decides_as_the_interpreted_logic(image):
    """With the replay's worker processes: they use the build too."""
    native, interpreted = _replay(image), _replay(image, ABM_PURE_PYTHON="1")
    assert (native["logic"], interpreted["logic"]) == ("compiled", "interpreted")
    assert native["applied"] == native["records"] > 0
    for key in ("applied", "duplicates", "rejected", "tiers"):
        assert native[key] == interpreted[key], key
