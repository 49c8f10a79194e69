"""The command line, run as users run it."""

import json
import os

import pytest
import subprocess
import sys

from _support import affected, installed
from portfix._defects import DEFECTS, FEATURES
from portfix._gate import decide, decide_features, read_versions


def cli(*args, **kwargs):
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    env.update(kwargs.get("env", {}))
    return subprocess.run([sys.executable, "-m", "portfix"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=90, env=env)


def test_status_json_lists_every_defect_with_its_decision():
    result = cli("status", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
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


def test_check_fails_when_portfix_is_disabled_on_an_affected_release():
    # D1: port 0 becomes 5000; D5: the line shows ":0".  Either way check must fail.
    expect_failure = (affected("D1") and installed("flask")) or affected("D5")
    result = cli("check", "--timeout", "30", env={"PORTFIX_DISABLE": "1"})
    assert result.returncode == (1 if expect_failure else 0), result.stdout
    assert ("FAILED" in result.stdout) == bool(expect_failure)


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "portfix")
    result = subprocess.run([script, "status"], stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert result.returncode == 0 and "D1" in result.stdout


def test_no_command_prints_usage_and_exits_2():
    result = cli()
    assert result.returncode == 2 and "status" in result.stdout
