"""The built wheel and sdist install with Python 3.6's stock pip 18.1 into a fresh venv.

Run by the ``install`` nox session, which sets PORTFIX_PYTHON36 to a CPython 3.6.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON36 = os.environ.get("PORTFIX_PYTHON36")


def run(argv, **kwargs):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, **kwargs)
    assert result.returncode == 0, "%s\n%s" % (" ".join(argv), result.stdout)
    return result.stdout


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    if not PYTHON36:
        pytest.fail("PORTFIX_PYTHON36 is not set: run this through `nox -s install`")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), ROOT])
    found = dict((name.rsplit(".", 1)[-1] if name.endswith(".whl") else "sdist", out / name) for name in os.listdir(str(out)))
    assert set(found) == {"whl", "sdist"}, found
    return found


# A legacy deployment as it stands, every release pinned (pip 18.1 would
# otherwise pick releases that need a newer Python).
LEGACY = ["flask==1.0.2", "werkzeug==0.14.1", "jinja2==2.11.3", "markupsafe==1.1.1", "itsdangerous==1.1.0",
          "click==7.1.2", "packaging==21.3", "pyparsing==3.0.9"]


@pytest.mark.parametrize("kind", ["whl", "sdist"])
def test_installs_with_stock_pip_18_1_without_moving_the_pins(artifacts, kind, tmp_path):
    venv = tmp_path / "venv"
    run([PYTHON36, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    assert run([python, "-m", "pip", "--version"]).startswith("pip 18.1 ")
    run([python, "-m", "pip", "install"] + LEGACY)
    before = run([python, "-m", "pip", "freeze"])
    run([python, "-m", "pip", "install", str(artifacts[kind])])
    after = run([python, "-m", "pip", "freeze"])
    assert sorted(set(after.splitlines()) - set(before.splitlines())) == ["portfix==0.1.0"]
    out = run([python, "-c", "import portfix, os; print(portfix.__version__); "
                             "print(os.path.exists(os.path.join(os.path.dirname(portfix.__file__), 'py.typed')))"])
    assert out.split() == ["0.1.0", "True"]
    status = run([str(venv / "bin" / "portfix"), "status"])
    assert "flask 1.0.2" in status and "patched" in status
