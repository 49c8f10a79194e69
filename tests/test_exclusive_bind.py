"""Windows exclusive bind (opt-in): against a simulated Windows socket layer, and off everywhere else.

Nothing here has run on a real Windows host.  ``tests/_windows.py`` stands in
for the ``socket`` module where Werkzeug's servers and portfix's own bind
reach it (``socketserver.socket``, ``portfix._bind.socket``): the gate reads
which options exist from the same module portfix binds with, so the layer's
``SO_EXCLUSIVEADDRUSE`` turns the Windows path on.  With the real socket
module of this (POSIX) host the option does not exist, and the feature is
not installed, whatever asks for it.
"""

import json
import os
import re
import socket
import socketserver

import pytest

import portfix
from _support import installed, probe
from _windows import SO_EXCLUSIVEADDRUSE, WSAEADDRINUSE, SharedSilently, windows_layer
from portfix import _bind
from portfix._defects import EXCLUSIVE_BIND_ENV
from portfix._gate import decide_features, read_socket_options
from portfix._process import Child
from portfix._versions import matches

TESTS = os.path.dirname(os.path.abspath(__file__))
OFF = "off: SO_EXCLUSIVEADDRUSE exists only on Windows"


@pytest.fixture
def layer(monkeypatch):
    fake, calls = windows_layer()
    monkeypatch.setattr(socketserver, "socket", fake)
    monkeypatch.setattr(_bind, "socket", fake)
    yield calls
    portfix.apply(exclusive_bind=False)


def app(environ, start_response):
    start_response("204 No Content", [])
    return []


def _options(calls):
    return [c[2] for c in calls if c[0] == "setsockopt" and c[1] == socket.SOL_SOCKET]


def test_upstream_lets_a_second_server_share_the_port(layer):
    from werkzeug.serving import make_server

    portfix.apply(exclusive_bind=False)
    first = make_server("127.0.0.1", 0, app)
    try:
        assert socket.SO_REUSEADDR in _options(layer) and SO_EXCLUSIVEADDRUSE not in _options(layer)
        with pytest.raises(SharedSilently):  # on Windows: no error, two servers on one port
            make_server("127.0.0.1", first.socket.getsockname()[1], app)
    finally:
        first.server_close()


def test_opted_in_the_listening_socket_is_exclusive_and_a_second_server_fails_loudly(layer):
    from werkzeug.serving import make_server

    assert "exclusive-bind" in [s.defect for s in portfix.apply(exclusive_bind=True) if s.applied]
    first = make_server("127.0.0.1", 0, app)
    try:
        options = _options(layer)
        assert SO_EXCLUSIVEADDRUSE in options and socket.SO_REUSEADDR not in options
        assert layer.index(("setsockopt", socket.SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1)) < layer.index(
            ("bind", 0))
        port = first.socket.getsockname()[1]
        if matches(installed("werkzeug"), ">=2.2.3"):
            # Upstream turns the server's bind error into a hint and SystemExit(1).
            with pytest.raises(SystemExit):
                make_server("127.0.0.1", port, app)
        else:
            error = portfix.PortInUseError if matches(installed("werkzeug"), "<2.1") else OSError
            with pytest.raises(error) as caught:  # upstream's raw OSError on 2.1.0-2.2.2
                make_server("127.0.0.1", port, app)
            assert caught.value.errno == WSAEADDRINUSE
    finally:
        first.server_close()


def test_serve_binds_exclusively_when_opted_in(layer):
    portfix.apply(exclusive_bind=True)
    with portfix.serve(app) as first:
        assert SO_EXCLUSIVEADDRUSE in _options(layer) and socket.SO_REUSEADDR not in _options(layer)
        with pytest.raises(portfix.PortInUseError) as caught:
            portfix.serve(app, port=first.port)
        assert caught.value.errno == WSAEADDRINUSE


def test_turning_it_off_again_restores_reuseaddr(layer):
    from werkzeug.serving import BaseWSGIServer, make_server

    before = BaseWSGIServer.__init__
    portfix.apply(exclusive_bind=True)
    portfix.apply(exclusive_bind=False)
    make_server("127.0.0.1", 0, app).server_close()
    assert socket.SO_REUSEADDR in _options(layer) and SO_EXCLUSIVEADDRUSE not in _options(layer)
    if not matches(installed("werkzeug"), "<2.1"):  # fixed release: the very same object again
        assert BaseWSGIServer.__init__ is before


def test_the_environment_variable_turns_it_on():
    # On the simulated Windows layer: the option exists there.
    code = """
sys.path.insert(0, %r)
from _windows import windows_layer
from portfix import _bind
_bind.socket, _ = windows_layer()
portfix.apply()
report(on=[s.defect for s in portfix.status() if s.applied and s.defect == "exclusive-bind"])
""" % (TESTS,)
    assert probe(code, disabled=False, env={"PORTFIX_EXCLUSIVE_BIND": "1"})["on"] == ["exclusive-bind"]
    assert probe(code, disabled=False, env={"PORTFIX_EXCLUSIVE_BIND": None})["on"] == []


@pytest.mark.cell_independent
def test_on_posix_the_option_does_not_exist_and_nothing_changes():
    # The real socket module here: SO_REUSEADDR cannot let two listeners share a port on Linux.
    assert _bind.exclusive_option() is None
    assert read_socket_options(socket) == frozenset()


@pytest.mark.parametrize("options, applies, reason", [
    (frozenset(), False, OFF),
    (frozenset(["SO_EXCLUSIVEADDRUSE"]), True, "applies"),
])
def test_the_gate_is_told_which_options_exist(options, applies, reason):
    versions = {"flask": None, "werkzeug": "2.3.8"}
    (decision,) = [d for d in decide_features(versions, {EXCLUSIVE_BIND_ENV}, options) if d.defect.id == "exclusive-bind"]
    assert (decision.applies, decision.reason) == (applies, reason)
    (off,) = [d for d in decide_features(versions, set(), options) if d.defect.id == "exclusive-bind"]
    assert not off.applies


# A fresh interpreter on this host's real socket module: asked for, in each
# way, the exclusive bind is not installed; status says why.
ASKED = {
    "environment": ({"PORTFIX_EXCLUSIVE_BIND": "1"}, ""),
    "apply": ({"PORTFIX_EXCLUSIVE_BIND": None}, "portfix.apply(exclusive_bind=True)"),
}
TRUTH = """
import json, subprocess, sys
import werkzeug.serving
before = werkzeug.serving.BaseWSGIServer.__init__
import portfix
from portfix import _control
{ask}
record = [s for s in portfix.status() if s.defect == "exclusive-bind"][0]
cli = subprocess.run([sys.executable, "-m", "portfix", "status", "--json"], stdout=subprocess.PIPE,
                     universal_newlines=True, timeout=60).stdout
(cli_record,) = [r for r in json.loads(cli)["records"] if r["defect"] == "exclusive-bind"]
with portfix.serve(lambda environ, start_response: []) as server:
    import socket
    reuse = server.server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
print("RESULT " + json.dumps(dict(
    same_init=werkzeug.serving.BaseWSGIServer.__init__ is before, applied=record.applied, reason=record.reason,
    cli=[cli_record["applied"], cli_record["reason"]], serve_exclusive=_control.feature_on("exclusive-bind"),
    reuse=bool(reuse))))
"""


@pytest.mark.skipif(hasattr(socket, "SO_EXCLUSIVEADDRUSE"), reason="Windows: the option exists")
@pytest.mark.parametrize("asked", sorted(ASKED))
def test_off_windows_it_is_not_installed_and_status_says_why(asked):
    env, ask = ASKED[asked]
    env = dict(env, PORTFIX_DISABLE=None)
    with Child(["-c", TRUTH.format(ask=ask)], env=env) as child:
        result = json.loads(child.wait_for(re.compile(r"^RESULT (.*)$"), 60).group(1))
    assert (result["applied"], result["reason"]) == (False, OFF)
    assert result["serve_exclusive"] is False and result["reuse"] is True  # serve() binds as upstream does
    if asked == "environment":  # the CLI reads the same environment
        assert result["cli"] == [False, OFF]
    if matches(installed("werkzeug"), ">=2.1"):  # fixed release: nothing else patches the server class
        assert result["same_init"] is True
