"""portfix installs through any index, with Python 3.6's stock pip 18.1.

Hermetic: no index, only a ``--find-links`` folder (a wheelhouse) holding,
for every dependency, both its newest release and the last one that runs on
Python 3.6.  Such a folder publishes no ``Requires-Python`` (nor do many
mirrors), and pip 18.1 then takes the newest release and stops with
"packaging requires Python '>=3.9'".  portfix's ``python_version`` markers
must lead it to releases that run there, into a fresh venv (no packaging
installed first) and into a legacy Flask 1.0.2 stack, which must not move.

Run by the ``install`` nox session, which sets PORTFIX_PYTHON36 to a CPython
3.6.  Building the wheelhouse needs the package index, once per session.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON36 = os.environ.get("PORTFIX_PYTHON36")

# The last releases that run on Python 3.6: each successor declares a newer
# Requires-Python.  setuptools and wheel are the sdist's build requirements.
LAST_FOR_36 = ["werkzeug==2.0.3", "packaging==21.3", "pyparsing==3.1.4", "dataclasses==0.8",
               "setuptools==59.6.0", "wheel==0.37.1"]
# Their newest releases (whatever the index has today), beside them.
NEWEST = ["werkzeug", "packaging", "pyparsing", "markupsafe", "setuptools", "wheel"]
# A legacy deployment as it stands, every release pinned; no packaging.
LEGACY = ["flask==1.0.2", "werkzeug==0.14.1", "jinja2==2.11.3", "markupsafe==1.1.1", "itsdangerous==1.1.0",
          "click==7.1.2"]


def run(argv, env=None):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            timeout=600, env=env)
    assert result.returncode == 0, "%s\n%s" % (" ".join(argv), result.stdout)
    return result.stdout


def hermetic_env():
    """No index, no pip configuration, no find-links but the one passed (this machine sets
    PIP_FIND_LINKS and an extra index in pip.conf)."""
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith("PIP_"))
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    if not PYTHON36:
        pytest.fail("PORTFIX_PYTHON36 is not set: run this through `nox -s install`")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), ROOT])
    found = dict((name.rsplit(".", 1)[-1] if name.endswith(".whl") else "sdist", out / name) for name in os.listdir(str(out)))
    assert set(found) == {"whl", "sdist"}, found
    return found


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """The --find-links folder: newest and last-for-3.6 releases, and the legacy stack."""
    folder = str(tmp_path_factory.mktemp("wheelhouse"))
    version36 = run([PYTHON36, "-c", "import platform; print(platform.python_version())"]).strip()
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", folder]
    run(download + NEWEST)
    platforms = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "any"]
    for requirements in (LAST_FOR_36, LEGACY):  # apart: both name a werkzeug
        run(download + ["--python-version", version36, "--implementation", "cp", "--abi", "cp36m"]
            + ["--platform=%s" % p for p in platforms] + requirements)
    names = os.listdir(folder)
    for distribution in ("werkzeug", "packaging", "pyparsing", "setuptools", "wheel"):
        versions = set(name.split("-")[1] for name in names if name.lower().startswith(distribution + "-"))
        assert len(versions) >= 2, "%s: only %s in the wheelhouse: it tests nothing" % (distribution, versions)
    return folder


def fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    run([PYTHON36, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    assert run([python, "-m", "pip", "--version"]).startswith("pip 18.1 ")
    return venv, python


def install(python, wheelhouse, *requirements):
    return run([python, "-m", "pip", "install", "--no-index", "--find-links", wheelhouse] + list(requirements),
               env=hermetic_env())


def freeze(python):
    """``pip freeze``'s lines, lower case (pip 18.1 keeps a project's own spelling: Werkzeug)."""
    return set(line.lower() for line in run([python, "-m", "pip", "freeze"], env=hermetic_env()).splitlines())


def check_installed(venv, python):
    out = run([python, "-c", "import portfix, os; print(portfix.__version__); "
                             "print(os.path.exists(os.path.join(os.path.dirname(portfix.__file__), 'py.typed')))"],
              env=hermetic_env())
    assert out.split() == ["0.1.0", "True"]
    portfix = str(venv / "bin" / "portfix")
    # portfix run works from the installed package: its sitecustomize was shipped.
    loaded = run([portfix, "run", "--", python, "-c", "import sys, werkzeug; print('portfix' in sys.modules)"],
                 env=hermetic_env())
    assert loaded.split() == ["True"]
    return run([portfix, "status"], env=hermetic_env())


@pytest.mark.parametrize("kind", ["whl", "sdist"])
def test_a_fresh_venv_gets_releases_that_run_on_3_6(artifacts, wheelhouse, kind, tmp_path):
    venv, python = fresh_venv(tmp_path)
    before = freeze(python)
    install(python, wheelhouse, str(artifacts[kind]))
    added = freeze(python) - before
    assert added == {"portfix==0.1.0", "werkzeug==2.0.3", "packaging==21.3", "pyparsing==3.1.4", "dataclasses==0.8"}
    check_installed(venv, python)


@pytest.mark.parametrize("kind", ["whl", "sdist"])
def test_the_legacy_flask_1_0_2_stack_does_not_move(artifacts, wheelhouse, kind, tmp_path):
    venv, python = fresh_venv(tmp_path)
    install(python, wheelhouse, *LEGACY)
    before = freeze(python)
    install(python, wheelhouse, str(artifacts[kind]))
    after = freeze(python)
    assert before <= after  # every pin stays as it was
    assert after - before == {"portfix==0.1.0", "packaging==21.3", "pyparsing==3.1.4"}
    status = check_installed(venv, python)
    assert "flask 1.0.2" in status and "patched" in status
