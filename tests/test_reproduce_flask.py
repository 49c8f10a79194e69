"""Flask.run defects D1-D3, reproduced on the real release with portfix disabled
and gone with portfix on: the same test, both ways."""

import pytest

import json
import re

from _support import (BOUND_SPY, MODES, RESULT, affected, busy_port, held_ephemeral_port, http_get, installed, patched, probe,
                      require, shows_defect, start)
from portfix._versions import matches

pytestmark = pytest.mark.usefixtures("flask_installed")

# Records what Flask.run hands to run_simple, then delegates to the real one.
SPY = """
import werkzeug.serving
_real_run_simple = werkzeug.serving.run_simple
def _spy(hostname, port, *args, **kwargs):
    sys.stdout.write("RUN_SIMPLE %r %s\\n" % (port, type(port).__name__))
    sys.stdout.flush()
    return _real_run_simple(hostname, port, *args, **kwargs)
werkzeug.serving.run_simple = _spy
"""

APP = BOUND_SPY + """
import flask
app = flask.Flask("reproduce")
app.add_url_rule("/", "index", lambda: "pid %d" % os.getpid())
"""


@pytest.fixture
def flask_installed():
    require("flask")


def _outcome(child, timeout=30):
    """('running', bound port) or ('error', the line) for an app.run child."""
    match = child.wait_for(re.compile(r"BOUND (\d+) PID|\w*(Error|Exception): .*"), timeout)
    if match.group(1):
        return "running", int(match.group(1))
    return "error", match.group(0)


@pytest.mark.parametrize("disabled", MODES)
def test_d1_port_zero_is_not_replaced_by_5000(disabled):
    code = APP + "app.run(host='127.0.0.1', port=0)\n"
    with busy_port(5000):
        with start(code, disabled) as child:
            kind, value = _outcome(child)
            if shows_defect("D1", disabled):
                # 0 became 5000: EADDRINUSE, or 5000 itself when it was free.
                assert (kind == "error" and "in use" in child.output()) or (kind, value) == ("running", 5000)
            else:
                assert kind == "running" and value not in (0, 5000), child.output()
                assert http_get(value)[0] == 200


@pytest.mark.parametrize("disabled", MODES)
def test_d1_port_zero_is_not_replaced_by_server_name_port(disabled):
    holder = held_ephemeral_port()
    try:
        busy = holder.getsockname()[1]
        code = APP + "app.config['SERVER_NAME'] = '127.0.0.1:%d'\napp.run(host='127.0.0.1', port=0)\n" % busy
        with start(code, disabled) as child:
            kind, value = _outcome(child)
            if shows_defect("D1", disabled):
                assert kind == "error" and "in use" in child.output(), child.output()
            else:
                assert kind == "running" and value not in (0, busy), child.output()
    finally:
        holder.close()


@pytest.mark.parametrize("disabled", MODES)
def test_d2_str_port_reaches_run_simple_as_int(disabled):
    code = APP + SPY + "app.run(host='127.0.0.1', port='0')\n"
    with start(code, disabled) as child:
        passed = child.wait_for(re.compile(r"RUN_SIMPLE (\S+) (\w+)"), 30)
        if shows_defect("D2", disabled):
            assert passed.groups() == ("'0'", "str")
            # What the str then does depends on Werkzeug (the D2 summary):
            symptom = child.wait_for(re.compile(r"port must be an integer|Logging error|Running on \S+"), 30).group(0)
            if matches(installed("werkzeug"), ">=0.13"):  # pallets/werkzeug PR #1088
                assert symptom == "port must be an integer"
            elif matches(installed("werkzeug"), "<0.11.3"):  # "%d" with a str: no line
                assert symptom == "Logging error"
            else:  # 0.11.3-0.12.x log the socket's port: the str goes unnoticed
                assert symptom.startswith("Running on")
        else:
            assert passed.groups() == ("0", "int")
            assert _outcome(child)[1] not in (0, 5000), child.output()


@pytest.mark.parametrize("disabled", MODES)
def test_d3_server_name_without_port(disabled):
    code = APP + SPY + "app.config['SERVER_NAME'] = '127.0.0.1'\napp.run(host='127.0.0.1')\n"
    with start(code, disabled) as child:
        seen = child.wait_for(re.compile(r"RUN_SIMPLE (\S+) \w+|ValueError: .*"), 30)
        if shows_defect("D3", disabled):
            assert "invalid literal for int() with base 10: ''" in seen.group(0)
        else:
            # Flask >= 2.0 semantics: no port in SERVER_NAME -> 5000.
            assert seen.group(1) == "5000", child.output()


BAD_PORTS = ["'abc'", "-1", "70000", "1.5", "''", "True", "b'80'", "' 1 2 '", "'8_080'"]


def test_bad_ports_are_rejected_before_binding():
    if not any(patched(d) for d in ("D1", "D2", "D3")):
        # Flask >= 2.0: Flask.run is upstream's own, and so is its validation
        # (Flask 2.0 still turns 1.5 into 1 with int(); portfix leaves it).
        result = probe(APP + "report(wrapped=hasattr(flask.Flask.run, '__wrapped__'))\n", disabled=False)
        assert result["wrapped"] is False
        return
    code = APP + SPY + """
outcomes = []
for bad in [%s]:
    try:
        app.run(host='127.0.0.1', port=bad)
        outcomes.append(["ran", repr(bad)])
    except (TypeError, ValueError) as exc:
        outcomes.append([type(exc).__name__, str(exc)])
report(outcomes=outcomes)
""" % ", ".join(BAD_PORTS)
    with start(code, disabled=False, env={"FLASK_RUN_FROM_CLI": None}) as child:
        result = json.loads(child.wait_for(RESULT, 30).group(1))
        assert "RUN_SIMPLE" not in child.output()  # rejected before anything could bind
    assert len(result["outcomes"]) == len(BAD_PORTS)
    for bad, (kind, message) in zip(BAD_PORTS, result["outcomes"]):  # noqa: B905 (no strict= on 3.6)
        assert kind in ("TypeError", "ValueError"), (bad, kind, message)
        assert repr(eval(bad)) in message, (bad, message)


@pytest.mark.parametrize("disabled", MODES)
def test_flask_run_from_cli_keeps_each_releases_own_meaning(disabled):
    code = APP + SPY + """
try:
    returned = app.run(host='127.0.0.1', port='abc')
    report(outcome="returned", value=repr(returned))
except (TypeError, ValueError) as exc:
    report(outcome=type(exc).__name__, message=str(exc))
"""
    with start(code, disabled, env={"FLASK_RUN_FROM_CLI": "true"}) as child:
        result = json.loads(child.wait_for(RESULT, 30).group(1))
        reached_run_simple = "RUN_SIMPLE" in child.output()
    if not affected("D2"):
        # Flask >= 1.0: under `flask run`, app.run() is a no-op, bad port or not.
        assert result == {"outcome": "returned", "value": "None"} and not reached_run_simple
    elif disabled:
        # Flask 0.x knows no such variable: the str goes on to run_simple (D2).
        assert reached_run_simple and result["outcome"] in ("TypeError", "ValueError")
    else:
        # ... so portfix still validates there, before anything binds.
        assert result["outcome"] == "ValueError" and "'abc'" in result["message"] and not reached_run_simple
