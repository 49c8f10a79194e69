"""The command line, run as users run it."""

import json
import os
import re

import pytest
import subprocess
import sys

from _support import installed
from portfix._defects import DEFECTS, FEATURES
from portfix._gate import decide, decide_features, read_versions


def cli(*args, **kwargs):
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    env.update(kwargs.get("env", {}))
    return subprocess.run([sys.executable, "-m", "portfix"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=90, env=env)


def test_status_json_is_an_object_with_the_versions_and_the_records():
    import platform

    import portfix

    result = cli("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report) == ["installed", "portfix", "records"]
    assert report["portfix"] == portfix.__version__
    assert report["installed"] == {"python": platform.python_version(), "flask": installed("flask"),
                                   "werkzeug": installed("werkzeug")}
    records = report["records"]
    assert [r["defect"] for r in records] == [d.id for d in DEFECTS + FEATURES]
    decisions = decide(read_versions()) + decide_features(read_versions(), set())
    applies = dict((d.defect.id, d.applies) for d in decisions)
    for record in records:
        assert record["applied"] == applies[record["defect"]], record
        assert record["installed"] == installed(record["distribution"])


def test_status_text_names_the_installed_versions():
    result = cli("status")
    assert result.returncode == 0
    for distribution in ("flask", "werkzeug"):
        assert "%s %s" % (distribution, installed(distribution) or "-") in result.stdout


def test_check_passes_and_reports_a_real_port():
    result = cli("check", "--json", "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["status"] == 200 and report["port"] not in (0, 5000)
    with pytest.raises(ProcessLookupError):  # the child was stopped and reaped
        os.kill(report["child_pid"], 0)
    # What the child said it patched (the parent no longer asks status() itself).
    status = json.loads(cli("status", "--json").stdout)
    assert report["patched"] == [r["defect"] for r in status["records"] if r["applied"]]


@pytest.mark.skipif(not installed("flask"), reason="the built-in check runs Flask's app.run only where Flask is")
@pytest.mark.parametrize("variable, value", [("FLASK_DEBUG", "1"), ("FLASK_ENV", "development")])
def test_check_passes_with_flask_debug_mode_set(variable, value):
    # Debug mode turned the reloader on, which re-ran the child's "-c ..."
    # command line: "Argument expected for the -c option", and a failed check.
    result = cli("check", "--json", "--timeout", "30", env={variable: value})
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"]


@pytest.mark.cell_independent  # the parser and messages, before any app runs
def test_check_with_portfix_disabled_says_so_at_once():
    # It used to run the child anyway: on affected releases it failed with a
    # regex in the message and never named the switch, on fixed ones it passed.
    result = cli("check", "--timeout", "30", env={"PORTFIX_DISABLE": "1"})
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "FAILED: PORTFIX_DISABLE='1' is set: portfix is switched off (its kill switch), so there is nothing of it "
        "to check; unset PORTFIX_DISABLE to run the check"]
    report = json.loads(cli("check", "--json", env={"PORTFIX_DISABLE": "1"}).stdout)
    assert report["error_kind"] == "disabled" and "child_pid" not in report


@pytest.mark.cell_independent  # the parser and messages, before any app runs
@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "0", "-1"])
def test_check_timeout_must_be_finite_and_positive(value):
    result = cli("check", "--timeout", value)
    assert result.returncode == 2
    assert "argument --timeout: timeout must be a number of seconds > 0 and at most 86400, got %r" % value \
        in result.stderr.splitlines()[-1]


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "portfix")
    result = subprocess.run([script, "status"], stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert result.returncode == 0 and "D1" in result.stdout


@pytest.mark.cell_independent  # the parser and messages, before any app runs
def test_no_command_prints_usage_and_exits_2():
    result = cli()
    assert result.returncode == 2 and "status" in result.stdout


@pytest.mark.cell_independent  # the parser and messages, before any app runs
def test_version():
    import portfix

    result = cli("--version")
    assert (result.returncode, result.stdout) == (0, "portfix %s\n" % portfix.__version__)


COMMANDS = ["status", "check", "run", "wait", "who"]


@pytest.mark.cell_independent  # the parser and messages, before any app runs
def test_help_is_plain_text_with_an_example_per_command():
    result = cli("--help")
    assert result.returncode == 0
    assert "``" not in result.stdout and ":func:" not in result.stdout
    examples = result.stdout.split("examples:\n", 1)[1].splitlines()
    for command in COMMANDS:
        assert re.search(r"^    %s\s{2,}\S" % command, result.stdout, re.M), command  # listed, with its summary
        assert any(line.startswith("  portfix %s" % command) for line in examples), command


@pytest.mark.cell_independent  # the parser and messages, before any app runs
@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_explains_itself(command):
    result = cli(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: portfix %s " % command)
    assert "``" not in result.stdout
    assert re.search(r"^examples?:\n  portfix %s" % command, result.stdout, re.M)


@pytest.mark.cell_independent  # the parser and messages, before any app runs
@pytest.mark.parametrize("args, message", [
    (["nosuchcommand"], "portfix: error: argument COMMAND: invalid choice: 'nosuchcommand'"),
    (["check", "--path", "/x"], "portfix check: --path and --expect need --app"),
    (["check", "--app", "not a spec"], "portfix check: --app must be MODULE:APP or MODULE:FACTORY(), got 'not a spec'"),
    (["status", "--bogus"], "portfix: error: unrecognized arguments: --bogus"),
])
def test_usage_errors_exit_2_with_one_message(args, message):
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
