"""``portfix check --app``: the user's real app, through its own app.run, on an
OS-chosen port learnt from the port file; a table, exit codes, and no child left."""

import json
import os
import subprocess
import sys

import pytest

from _support import installed, is_listening

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
# The legacy Flask app where Flask is installed, a plain WSGI app elsewhere.
MODULE = "legacy_app" if installed("flask") else "wsgi_app"


def check(*args, **kwargs):
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", "portfix", "check"] + list(args), cwd=APPS, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
    )


def gone(pid):
    """True when *pid* no longer runs (a zombie left to a non-reaping PID 1 counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (IOError, OSError):
        return True


def test_healthy_path_passes_with_a_table():
    result = check("--app", MODULE + ":app", "--path", "/health")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["path", "status", "latency", "ms"]
    row = lines[2].split()
    assert row[0] == "/health" and row[1] == "200" and float(row[2]) > 0 and row[3] == "ok"
    assert lines[-1] == "ok"


def test_a_failing_path_fails_the_check_and_the_table_says_which():
    result = check("--app", MODULE + ":app", "--path", "/health", "--path", "/broken", "--path", "/missing")
    assert result.returncode == 1
    rows = dict((line.split()[0], line.split()[1:]) for line in result.stdout.splitlines()[2:5])
    assert rows["/health"][0] == "200" and rows["/health"][2] == "ok"
    assert rows["/broken"][0] == "500" and rows["/broken"][2:] == ["FAILED", "(expected", "200)"]
    assert rows["/missing"][0] == "404" and rows["/missing"][2] == "FAILED"
    assert result.stdout.splitlines()[-1] == "FAILED"


def test_expect_another_status():
    result = check("--app", MODULE + ":app", "--path", "/missing", "--expect", "404")
    assert result.returncode == 0, result.stdout


def test_factory_and_json_and_the_child_is_gone_afterwards():
    result = check("--app", MODULE + ":create_app()", "--path", "/health", "--path", "/broken", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [(p["path"], p["status"], p["ok"]) for p in report["paths"]] == [("/health", 200, True), ("/broken", 500, False)]
    assert report["ok"] is False and report["error"] is None
    assert report["port"] not in (None, 0, 5000)
    assert gone(report["child_pid"])
    assert not is_listening(report["port"])


def test_a_crash_before_listening_fails_with_the_traceback():
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [APPS, os.environ.get("PYTHONPATH")]))}
    result = check("--app", "no_such_module_here:app", "--json", env=env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "exited with code 1 before it listened" in report["error"]
    assert "no_such_module_here" in report["error"]
    assert gone(report["child_pid"])


def test_a_timeout_fails_and_the_child_is_stopped(tmp_path):
    (tmp_path / "slow_app.py").write_text(u"import time\ntime.sleep(600)\napp = None\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    result = check("--app", "slow_app:app", "--timeout", "2", "--json", env=env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "no port file after 2 s" in report["error"]
    assert gone(report["child_pid"])


def test_with_portfix_disabled_the_check_fails_at_once_and_says_why():
    # The app's portfix would write no port file (and on Flask 1.0.x port=0
    # would become 5000): no child is started.
    result = check("--app", MODULE + ":app", "--timeout", "3", "--json", env={"PORTFIX_DISABLE": "1"})
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "PORTFIX_DISABLE" in report["error"] and "child_pid" not in report


@pytest.mark.parametrize("args, message", [
    (["--app", "legacy_app"], "MODULE:APP"),
    (["--app", "legacy_app:app(1)"], "MODULE:APP"),
    (["--app", MODULE + ":app", "--path", "health"], "must start with '/'"),
    (["--path", "/health"], "need --app"),
])
def test_usage_errors_exit_2_before_any_child(args, message):
    result = check(*args)
    assert result.returncode == 2
    assert message in result.stderr
