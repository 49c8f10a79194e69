"""``portfix check --app``: the user's real app, through its own app.run, on an
OS-chosen port learnt from the port file; a table, exit codes, and no child left."""

import json
import os
import subprocess
import sys
import time

import pytest

from _support import gone, installed, is_listening

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
# The legacy Flask app where Flask is installed, a plain WSGI app elsewhere.
MODULE = "legacy_app" if installed("flask") else "wsgi_app"


def check(*args, **kwargs):
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", "portfix", "check"] + list(args), cwd=APPS, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=kwargs.pop("timeout", 120),
    )


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


@pytest.mark.cell_independent  # the check refuses before its app serves: no Flask/Werkzeug release involved
def test_an_import_error_is_one_line_naming_the_module_and_the_error():
    result = check("--app", "no_such_module_here:app")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "portfix check --app no_such_module_here:app: FAILED: cannot import no_such_module_here: "
        "ModuleNotFoundError: No module named 'no_such_module_here'"], result.stdout
    assert result.stderr == ""


@pytest.mark.cell_independent  # the check refuses before its app serves: no Flask/Werkzeug release involved
def test_an_import_error_with_v_shows_the_traceback_and_json_has_it():
    result = check("--app", "raises_at_import:app", "-v")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == ("portfix check --app raises_at_import:app: FAILED: cannot import raises_at_import: "
                        "RuntimeError: fails at import on purpose")
    assert lines[1].strip() == "Traceback (most recent call last):" and "raises_at_import.py" in result.stdout
    report = json.loads(check("--app", "raises_at_import:app", "--json").stdout)
    assert report["error_kind"] == "import" and report["traceback"][-1] == "RuntimeError: fails at import on purpose"
    assert gone(report["child_pid"])


def test_a_factory_that_raises_is_named():
    result = check("--app", MODULE + ":crash()")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["portfix check --app %s:crash(): FAILED: %s:crash() raised RuntimeError: "
                                          "the factory fails on purpose" % (MODULE, MODULE)]


def test_a_factory_named_without_parentheses_gets_a_hint():
    # Served as it is, the function answered every request 500 with no hint.
    result = check("--app", MODULE + ":create_app", "--path", "/health")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "portfix check: %s:create_app is a function that takes no arguments, not a WSGI app; for an app factory "
        "use --app '%s:create_app()'" % (MODULE, MODULE)]
    assert result.stdout == ""


def test_an_attribute_that_does_not_exist_is_a_usage_error():
    result = check("--app", MODULE + ":no_such_app")
    assert result.returncode == 2
    assert "module %s has no attribute 'no_such_app'" % MODULE in result.stderr


def test_a_crash_before_listening_shows_the_output_escaped():
    result = check("--app", "escapes_app:crashing")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "portfix check --app escapes_app:crashing: FAILED: the app exited with code 4 before it listened"
    assert "    \\x1b]0;pwned\\x07\\x1b[2J\\rportfix check: ok" in lines
    assert "\x1b" not in result.stdout and "\r" not in result.stdout and "\x07" not in result.stdout


def test_a_5xx_shows_the_output_escaped():
    result = check("--app", "escapes_app:app")
    assert result.returncode == 1
    assert "    \\x1b]0;pwned\\x07\\x1b[2J\\rportfix check: ok" in result.stdout.splitlines()
    assert "\x1b" not in result.stdout and "\r" not in result.stdout and "\x07" not in result.stdout


def test_a_5xx_shows_the_apps_traceback():
    # Flask logs the traceback before it answers; Werkzeug, for a plain WSGI
    # app that raises, after: the check waits for the connection to close.
    result = check("--app", MODULE + ":app", "--path", "/health", "--path", "/broken")
    assert result.returncode == 1
    after_table = result.stdout.split("the app's last lines of output:\n", 1)[1]
    assert result.stdout.splitlines()[-1] == "FAILED"
    report = json.loads(check("--app", MODULE + ":app", "--path", "/broken", "--json").stdout)
    if _flask_logs_errors():
        assert "Traceback (most recent call last):" in after_table
        assert "RuntimeError: this route fails on purpose" in after_table
        assert "RuntimeError: this route fails on purpose" in report["output"]
    else:  # the app wrote no traceback: its last lines are the request log
        assert '"GET /broken HTTP/1.1" 500' in after_table
        assert any('"GET /broken HTTP/1.1" 500' in line for line in report["output"])


def _flask_logs_errors():
    """Flask 0.10 logs an exception only in debug mode (its logger has only a
    DebugHandler); from 0.11 a production handler writes it to stderr.
    A plain WSGI app's traceback is written by Werkzeug."""
    from portfix._versions import matches

    flask = installed("flask")
    return flask is None or matches(flask, ">=0.11")


def test_no_output_is_shown_when_every_path_passes():
    result = check("--app", MODULE + ":app", "--path", "/health", "--path", "/missing", "--expect", "200",
                   "--expect", "404")
    assert result.returncode == 0, result.stdout
    assert "output" not in result.stdout


def test_expect_once_per_path_is_paired_in_order():
    result = check("--app", MODULE + ":app", "--path", "/missing", "--path", "/health", "--expect", "404",
                   "--expect", "404", "--json")
    assert result.returncode == 1
    rows = json.loads(result.stdout)["paths"]
    assert [(r["path"], r["expect"], r["status"], r["ok"]) for r in rows] == [
        ("/missing", 404, 404, True), ("/health", 404, 200, False)]


def test_a_drip_fed_body_does_not_stretch_the_timeout():
    # One byte a second for ten minutes: a per-read socket timeout never fires.
    start = time.monotonic()
    result = check("--app", "drip_app:app", "--path", "/", "--path", "/drip", "--path", "/after", "--timeout", "3",
                   "--json", timeout=60)
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["error_kind"] == "timeout"
    assert report["error"] == "timed out: GET /drip had not finished when --timeout 3 s ran out"
    assert [(r["path"], r["status"], r["ok"], r["error"]) for r in report["paths"]] == [
        ("/", 200, True, None), ("/drip", 200, False, "timed out")]  # /after never requested
    assert gone(report["child_pid"])
    assert elapsed < 3 + 5, elapsed  # the timeout, the check's own start-up and the child's stop


def test_a_timeout_fails_and_the_child_is_stopped(tmp_path):
    (tmp_path / "slow_app.py").write_text(u"import time\ntime.sleep(600)\napp = None\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    result = check("--app", "slow_app:app", "--timeout", "2", "--json", env=env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "no port file after 2 s" in report["error"]
    assert gone(report["child_pid"])


def test_an_app_that_closes_its_fds_and_opens_dev_null_passes():
    # The lifeline's fd number came to name /dev/null, whose end-of-file was
    # taken for the check's death: the healthy app was SIGKILLed ("exited
    # with code -9 before it listened").
    result = check("--app", "closes_fds_app:app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "ok"


def _ok_app_in(folder):
    folder.mkdir()
    (folder / "okapp.py").write_text(u"def app(environ, start_response):\n"
                                     u"    start_response('200 OK', [('Content-Length', '2')])\n"
                                     u"    return [b'ok']\n")
    return folder


def test_the_app_is_imported_from_a_folder_whose_name_holds_a_colon(tmp_path):
    # The folder went through PYTHONPATH, where ':' splits it in two:
    # "cannot import okapp: ModuleNotFoundError".
    folder = _ok_app_in(tmp_path / "a:b")
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    result = subprocess.run([sys.executable, "-m", "portfix", "check", "--app", "okapp:app"], cwd=str(folder),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "ok"


# Starts the check in a folder it deletes first.
IN_A_DELETED_FOLDER = """
import os, sys
os.chdir(sys.argv[1])
os.rmdir(sys.argv[1])
os.execv(sys.executable, [sys.executable, "-m", "portfix", "check"] + sys.argv[2:])
"""


@pytest.mark.cell_independent  # the check refuses before its app serves: no Flask/Werkzeug release involved
@pytest.mark.parametrize("args, why", [(["--app", "okapp:app"], ", and --app imports the app from it"), ([], "")],
                         ids=["app", "built-in"])
def test_a_deleted_current_folder_is_one_line_naming_it(tmp_path, args, why):
    # --app: a traceback from os.getcwd() (exit 1); the built-in check: the
    # child's traceback, from Flask or from an import.
    folder = tmp_path / "deleted"
    folder.mkdir()
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    result = subprocess.run([sys.executable, "-c", IN_A_DELETED_FOLDER, str(folder)] + args, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "portfix check: the current folder is gone (No such file or directory)%s: run the check from an existing "
        "folder" % why]
    assert result.stdout == ""


@pytest.mark.cell_independent  # the check refuses before its app serves: no Flask/Werkzeug release involved
def test_with_portfix_disabled_the_check_fails_at_once_and_says_why():
    # The app's portfix would write no port file (and on Flask 1.0.x port=0
    # would become 5000): no child is started.
    result = check("--app", MODULE + ":app", "--timeout", "3", "--json", env={"PORTFIX_DISABLE": "1"})
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "PORTFIX_DISABLE" in report["error"] and "child_pid" not in report


@pytest.mark.cell_independent  # the check refuses before its app serves: no Flask/Werkzeug release involved
@pytest.mark.parametrize("args, message", [
    (["--app", "marker_app"], "--app must be MODULE:APP or MODULE:FACTORY(), got 'marker_app'"),
    (["--app", "marker_app:app(1)"], "MODULE:APP"),
    (["--path", "health"], "argument --path: a path must start with '/', got 'health'"),
    (["--path", "/a b"], "argument --path: a path must be printable ASCII without spaces or control characters "
                         "(percent-encode them, e.g. %20), got '/a b'"),
    (["--path", "/a\x1b"], "got '/a\\x1b'"),
    (["--timeout", "nan"], "argument --timeout: timeout must be a number of seconds > 0 and at most 86400, got 'nan'"),
    (["--timeout", "inf"], "got 'inf'"),
    (["--timeout", "1e308"], "got '1e308'"),
    (["--timeout", "0"], "got '0'"),
    (["--timeout", "-1"], "got '-1'"),
    (["--timeout", "soon"], "got 'soon'"),
    (["--expect", "99"], "argument --expect: an expected status must be an HTTP status 100-599, got '99'"),
    (["--path", "/a", "--path", "/b", "--path", "/c", "--expect", "200", "--expect", "404"],
     "portfix check: --expect given 2 times for 3 --path: give it once (for every path) or once per --path, "
     "paired in order"),
])
def test_usage_errors_exit_2_naming_the_value_before_any_child(tmp_path, args, message):
    marker = tmp_path / "imported"
    if args[0] != "--app":
        args = ["--app", "marker_app:app"] + args
    result = check(*args, env={"MARKER_APP_FILE": str(marker)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not marker.exists()  # the app was never imported: no child started


@pytest.mark.cell_independent  # the check refuses before its app serves: no Flask/Werkzeug release involved
def test_path_and_expect_need_app():
    result = check("--path", "/health")
    assert result.returncode == 2 and "need --app" in result.stderr
