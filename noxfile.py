"""The test matrix: one session per cell of compat/cells.toml, plus the install check.

    nox                      # everything (what .ci/run runs)
    nox -s "cell(fl1.0.2-wz0.14.1)"
    nox -s "cell(fl2.3-wz2.3)" -- -m cell_independent   # pytest arguments after --
    nox -s install
    nox -s bench             # the benchmarks (benchmarks/README.md); never run by default
    nox -l                   # list the sessions

Interpreters (3.6 to 3.15) are found as python3.X on PATH; the pyenv versions
folder, when present, is put first on PATH, and the folder of
scripts/newest-pythons.sh ($PORTFIX_PYTHONS/bin, default
~/.cache/portfix-pythons/bin), when present, last: a python3.14/3.15 of your
own wins.  A missing interpreter fails the run.

Tests marked ``cell_independent`` (their outcome cannot depend on the
installed Flask/Werkzeug release) run only in the cells that say
``cell_independent_tests = true`` in compat/cells.toml; the others pass
``-m "not cell_independent"`` to pytest.

Virtual environments are made with uv when nox finds it (``pip install
nox uv``, as .ci/run does: about 3 s per cell instead of 20-40 s with pip),
with venv and pip otherwise; both resolve the same releases.
"""

import glob
import os
import subprocess
import sys

import nox

try:
    import tomllib
except ImportError:  # Python < 3.11 running nox
    import tomli as tomllib

ROOT = os.path.dirname(os.path.abspath(__file__))
DIST = os.path.join(ROOT, ".nox", "_dist")

nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["cell", "install"]


def _pyenv_bins():
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    try:
        root = subprocess.check_output(["pyenv", "root"], universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return sorted(glob.glob(os.path.join(root, "versions", "*", "bin")))


def _newest_pythons_bin():
    """Where scripts/newest-pythons.sh leaves python3.14 and python3.15, if it ran."""
    folder = os.environ.get("PORTFIX_PYTHONS") or os.path.expanduser("~/.cache/portfix-pythons")
    path = os.path.join(folder, "bin")
    return [path] if os.path.isdir(path) else []


os.environ["PATH"] = os.pathsep.join(_pyenv_bins() + [os.environ.get("PATH", "")] + _newest_pythons_bin())

with open(os.path.join(ROOT, "compat", "cells.toml"), "rb") as f:
    MATRIX = tomllib.load(f)
CELLS = dict((cell["name"], cell) for cell in MATRIX["cell"])


def _wheel():
    """portfix's wheel, built with the interpreter running nox when missing or
    older than a source file (so a later run never tests a stale build)."""
    found = glob.glob(os.path.join(DIST, "portfix-*.whl"))
    sources = glob.glob(os.path.join(ROOT, "src", "portfix", "**", "*"), recursive=True) + [os.path.join(ROOT, "setup.cfg")]
    newest = max(os.path.getmtime(path) for path in sources)
    if found and os.path.getmtime(found[0]) < newest:
        for path in found:
            os.remove(path)
        found = []
    if not found:
        subprocess.check_call(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", DIST, ROOT]
        )
        found = glob.glob(os.path.join(DIST, "portfix-*.whl"))
    return found[0]


def _requirements(cell):
    return list(cell["pins"]) + list(MATRIX["companions"].get(cell.get("companions", ""), []))


# With uv, .pyc files are written at install as pip writes them: a test that
# compares a child's stderr with another's must not meet a first import that
# compiles (old releases' sources warn about invalid escapes when compiled).
UV_ENV = {"UV_COMPILE_BYTECODE": "1"}


def _venv_seed(spec):
    """What ``python -m venv`` puts into a venv and uv does not: pip, and
    setuptools below Python 3.12 (tests read versions with its pkg_resources
    below 3.8), so that both backends give the tests the same environment."""
    version = tuple(int(part) for part in spec["python"].split("."))
    return ["pip"] + (["setuptools"] if version < (3, 12) else [])


def _install_cell(session, spec, extra=()):
    """Install a cell's pins, *extra* and portfix's wheel into the session's venv."""
    uv = session.venv_backend == "uv"
    if spec["python"] == "3.6" and not uv:
        # pip 18.1 (3.6's stock pip) picks releases that cannot run on 3.6.
        session.install("pip==21.3.1")
    seed = _venv_seed(spec) if uv else []
    # uv's own bytecode compiler needs Python >= 3.7.
    uv_compiles = uv and spec["python"] != "3.6"
    # One resolve: portfix's unpinned werkzeug requirement never moves the pin.
    session.install(*(seed + _requirements(spec) + list(extra) + [_wheel()]), env=UV_ENV if uv_compiles else None)
    if uv and not uv_compiles:
        # As pip does: warnings silenced, a file that does not compile skipped.
        lib = os.path.join(session.virtualenv.location, "lib")
        session.run("python", "-W", "ignore", "-m", "compileall", "-q", "-j", "0", lib, silent=True, success_codes=[0, 1])
    if uv:
        session.run("uv", "pip", "freeze", silent=False)
    else:
        session.run("python", "-m", "pip", "freeze", silent=False)


# uv when nox finds it, venv + pip otherwise.
BACKEND = "uv|venv"


@nox.session(venv_backend=BACKEND)
@nox.parametrize(
    "python,cell",
    [(cell["python"], name) for name, cell in CELLS.items()],
    ids=list(CELLS),
)
def cell(session, cell):
    """Run the test suite against one cell's real Flask/Werkzeug releases."""
    spec = CELLS[cell]
    _install_cell(session, spec, ["pytest", "hypothesis"] + spec.get("extras", []))
    session.run("portfix", "status")
    # Arguments after -- come last: a -m there replaces this one.
    select = [] if spec.get("cell_independent_tests") else ["-m", "not cell_independent"]
    session.run(
        # --durations: where a cell's minutes go, printed in every CI log.
        "pytest", "tests", "--ignore=tests/packaging", "-p", "no:cacheprovider", "--durations=15", *select,
        *session.posargs,
        env={"PORTFIX_CELL": cell},
        # On Ctrl-C (or .ci/lanes.py's SIGINT to the session's group) pytest
        # stops each test's children on the way out: wait for it, not 0.3 s.
        interrupt_timeout=60.0,
    )


@nox.session(python="3.11", venv_backend=BACKEND)
def install(session):
    """The wheel and the sdist install with Python 3.6's stock pip 18.1."""
    # pip too: the test downloads its wheelhouse with this venv's pip (uv makes none).
    session.install("build", "pytest", "pip")
    python36 = session.run("python", "-c", "import shutil; print(shutil.which('python3.6') or '')", silent=True).strip()
    if not python36:
        session.error("python3.6 not found: the install check needs it")
    session.run(
        "pytest", "tests/packaging", "-p", "no:cacheprovider", *session.posargs,
        env={"PORTFIX_PYTHON36": python36},
        interrupt_timeout=60.0,  # as in cell(): pytest's own clean-up on Ctrl-C
    )


# A patched cell (the most common legacy pin) and the newest fixed cell.
BENCH_CELLS = ["fl1.0.2-wz0.14.1", "fl3.1-wz3.1-py3.13"]
BENCH_ANCHORS = ["exceptiongroup", "typing_extensions"]


@nox.session(venv_backend=BACKEND)
@nox.parametrize(
    "python,cell",
    [(CELLS[name]["python"], name) for name in BENCH_CELLS],
    ids=BENCH_CELLS,
)
def bench(session, cell):
    """The benchmarks in one cell (not a default session: CI never runs it).

    Arguments after ``--`` go to benchmarks/run.py: ``nox -s bench -- --quick --json``.
    """
    _install_cell(session, CELLS[cell])
    # P1's anchors, in this session only: other shims imported at the top of
    # processes.  Each where it installs (exceptiongroup needs Python >= 3.7).
    for anchor in BENCH_ANCHORS:
        session.run("python", "-m", "pip", "install", "-q", anchor, success_codes=[0, 1])
    session.run("portfix", "status")
    session.run("python", "benchmarks/run.py", *session.posargs)
