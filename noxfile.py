"""The test matrix: one session per cell of compat/cells.toml, plus the install check.

    nox                      # everything (what .ci/run runs)
    nox -s "cell(fl1.0.2-wz0.14.1)"
    nox -s install
    nox -s bench             # the benchmarks (benchmarks/README.md); never run by default
    nox -l                   # list the sessions

Interpreters are found as python3.X on PATH; the pyenv versions folder, when
present, is put first on PATH.  A missing interpreter fails the run.
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


os.environ["PATH"] = os.pathsep.join(_pyenv_bins() + [os.environ.get("PATH", "")])

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


def _install_cell(session, spec, extra=()):
    """Install a cell's pins, *extra* and portfix's wheel into the session's venv."""
    if spec["python"] == "3.6":
        # pip 18.1 (3.6's stock pip) picks releases that cannot run on 3.6.
        session.install("pip==21.3.1")
    # One resolve: portfix's unpinned werkzeug requirement never moves the pin.
    session.install(*(_requirements(spec) + list(extra) + [_wheel()]))
    session.run("python", "-m", "pip", "freeze", silent=False)


@nox.session(venv_backend="venv")
@nox.parametrize(
    "python,cell",
    [(cell["python"], name) for name, cell in CELLS.items()],
    ids=list(CELLS),
)
def cell(session, cell):
    """Run the test suite against one cell's real Flask/Werkzeug releases."""
    _install_cell(session, CELLS[cell], ["pytest", "hypothesis"] + CELLS[cell].get("extras", []))
    session.run("portfix", "status")
    session.run(
        "pytest", "tests", "--ignore=tests/packaging", "-p", "no:cacheprovider", *session.posargs,
        env={"PORTFIX_CELL": cell},
    )


@nox.session(python="3.11", venv_backend="venv")
def install(session):
    """The wheel and the sdist install with Python 3.6's stock pip 18.1."""
    session.install("build", "pytest")
    python36 = session.run("python", "-c", "import shutil; print(shutil.which('python3.6') or '')", silent=True).strip()
    if not python36:
        session.error("python3.6 not found: the install check needs it")
    session.run(
        "pytest", "tests/packaging", "-p", "no:cacheprovider", *session.posargs,
        env={"PORTFIX_PYTHON36": python36},
    )


# A patched cell (the most common legacy pin) and the newest fixed cell.
BENCH_CELLS = ["fl1.0.2-wz0.14.1", "fl3.1-wz3.1-py3.13"]
BENCH_ANCHORS = ["exceptiongroup", "typing_extensions"]


@nox.session(venv_backend="venv")
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
