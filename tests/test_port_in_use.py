"""A busy port in app.run, run_simple and make_server: PortInUseError naming the
holder on patched releases (Werkzeug < 2.1), upstream's behaviour elsewhere.

The holder is another process of this user (tests/_holding.py), so the
message must name its pid and command line.
"""

import errno

import pytest

from _holding import HOSTILE_ARGS, MARKER, Holding
from _support import MODES, installed, patched, probe
from portfix._gate import decide_features, read_versions
from portfix._versions import matches

FEATURES = dict((d.defect.id, d.applies) for d in decide_features(read_versions(), set()))

# Where upstream prints a hint and raises SystemExit(1) instead of OSError:
# run_simple's own bind from 2.1.0 (pallets/werkzeug#2687), the server
# class from 2.2.3 (measured on the wheels from PyPI).
UPSTREAM_EXITS = {"app.run": ">=2.1", "run_simple": ">=2.1", "run_simple with the reloader": ">=2.1",
                  "make_server": ">=2.2.3"}

ENTRIES = {
    "app.run": """
from flask import Flask
app = Flask("busy")
app.run(host="127.0.0.1", port=PORT)
""",
    "run_simple": """
from werkzeug.serving import run_simple
run_simple("127.0.0.1", PORT, lambda environ, start_response: [])
""",
    "make_server": """
from werkzeug.serving import make_server
make_server("127.0.0.1", PORT, lambda environ, start_response: [])
""",
    "run_simple with the reloader": """
from werkzeug.serving import run_simple
run_simple("127.0.0.1", PORT, lambda environ, start_response: [], use_reloader=True)
""",
}

CATCH = """
try:
{body}
except BaseException as exc:
    report(type=type(exc).__name__, oserror=isinstance(exc, OSError), errno=getattr(exc, "errno", None),
           code=getattr(exc, "code", None), message=str(exc), cause=type(exc.__cause__).__name__)
else:
    report(type=None)
"""


def _entries():
    names = ["run_simple", "make_server"]
    if installed("flask"):
        names.insert(0, "app.run")
    # Werkzeug < 2.1: the reloader parent binds in run_simple itself (a test
    # socket before 0.11, the socket it hands to the workers from 0.11).
    if matches(installed("werkzeug"), "<2.1"):
        names.append("run_simple with the reloader")
    return names


@pytest.mark.parametrize("entry", _entries())
@pytest.mark.parametrize("disabled", MODES)
def test_busy_port(tmp_path, entry, disabled):
    with Holding(tmp_path, "127.0.0.1") as (holder, port):
        body = "\n".join("    " + line for line in ENTRIES[entry].replace("PORT", str(port)).strip().splitlines())
        for _ in range(3):
            result = probe(CATCH.format(body=body), disabled)
            # The lookup has 0.2 s; a loaded runner may deschedule the child
            # past it, and the message then lacks the pid.  A lookup that
            # never finds it fails all three.
            if result["type"] != "PortInUseError" or "pid %d" % holder.pid in result["message"]:
                break
    feature = "port-in-use-reloader" if "reloader" in entry else "port-in-use"
    if not disabled and FEATURES[feature]:
        assert result["type"] == "PortInUseError" and result["oserror"]
        assert result["errno"] == errno.EADDRINUSE
        assert result["cause"] == "OSError"  # raised from the original error
        message = result["message"]
        assert "127.0.0.1:%d" % port in message
        assert "pid %d" % holder.pid in message and MARKER in message
        assert "port=0" in message
    elif matches(installed("werkzeug"), UPSTREAM_EXITS[entry]):
        assert (result["type"], result["code"]) == ("SystemExit", 1)
    else:
        assert result["type"] in ("OSError", "error") and result["errno"] == errno.EADDRINUSE
        assert "pid" not in result["message"]


def test_the_features_follow_the_table():
    wz = installed("werkzeug")
    assert FEATURES["port-in-use"] == matches(wz, ">=0.9,<2.1")
    assert FEATURES["port-in-use-reloader"] == matches(wz, ">=0.9,<2.1")
    # D11 etc. are decided by the same gate: the patched server is the one that diagnoses.
    assert not FEATURES["port-in-use"] or patched("D9") or patched("D7") or patched("D5") or patched("D11")


SERVE = """
portfix.serve(lambda environ, start_response: [], host="127.0.0.1", port=PORT)
"""


def _hostile_entries():
    names = ["portfix.serve"]  # every release
    if FEATURES["port-in-use"]:  # the patched servers
        names.extend(["app.run", "make_server"] if installed("flask") else ["make_server"])
    return names


@pytest.mark.parametrize("entry", _hostile_entries())
def test_a_holders_escape_sequences_reach_the_message_escaped(tmp_path, entry):
    """The holder's argv retitles the terminal, erases the line and forges a "To fix" line: all shown escaped."""
    code = SERVE if entry == "portfix.serve" else ENTRIES[entry]
    with Holding(tmp_path, "127.0.0.1", extra=HOSTILE_ARGS) as (holder, port):
        body = "\n".join("    " + line for line in code.replace("PORT", str(port)).strip().splitlines())
        for _ in range(3):  # the lookup's 0.2 s may be taken by a loaded runner: see test_busy_port
            result = probe(CATCH.format(body=body), disabled=False)
            if "pid %d" % holder.pid in result["message"]:
                break
    assert result["type"] == "PortInUseError", result
    lines = result["message"].split("\n")
    print("\n" + "\n".join(lines))
    assert [line for line in lines if not line.isprintable()] == []  # no ESC, BEL, CR
    assert len(lines) == 3  # the forged line is not one
    assert lines[1].startswith("  held by pid %d: " % holder.pid)
    assert "\\x1b]0;portfix-owned\\x07" in lines[1] and "\\r\\x1b[2K" in lines[1]
    assert "\\n  To fix: run curl" in lines[1]
    assert lines[2].startswith("  To fix: stop pid %d;" % holder.pid)
