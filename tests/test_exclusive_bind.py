"""Windows exclusive bind (opt-in), against a simulated Windows socket layer.

Nothing here has run on a real Windows host.  The layer below stands in for
the ``socket`` module where Werkzeug's servers (through ``socketserver``)
and portfix's own bind reach it.  It records every setsockopt() and bind(),
has ``SO_EXCLUSIVEADDRUSE``, and decides a second bind of the same address
the way Windows does: allowed silently when the first socket did not ask for
exclusive use (so two dev servers share a port, pallets/werkzeug#1597),
WSAEADDRINUSE (10048) when it did.  The real bind then happens on Linux.
"""

import socket
import socketserver
import types

import pytest

import portfix
from _support import installed
from portfix import _bind
from portfix._versions import matches

WSAEADDRINUSE = 10048
SO_EXCLUSIVEADDRUSE = ~socket.SO_REUSEADDR  # its value in Windows' headers


class SharedSilently(Exception):
    """Windows would have let this second socket bind the port: no error at all."""


def windows_layer():
    calls, bound = [], {}  # bound: port -> was it bound exclusively

    class WindowsSocket(socket.socket):
        def setsockopt(self, level, option, value):
            calls.append(("setsockopt", level, option, value))
            if option == SO_EXCLUSIVEADDRUSE:
                self._exclusive = True
                return None  # Linux has no such option; the layer keeps the state
            return super(WindowsSocket, self).setsockopt(level, option, value)

        def bind(self, address):
            calls.append(("bind", address[1]))
            port = address[1]
            if port in bound:
                if bound[port]:
                    error = OSError(WSAEADDRINUSE, "Only one usage of each socket address is normally permitted")
                    error.winerror = WSAEADDRINUSE
                    raise error
                raise SharedSilently(port)
            super(WindowsSocket, self).bind(address)
            bound[self.getsockname()[1]] = getattr(self, "_exclusive", False)

    layer = types.ModuleType("socket")
    layer.__dict__.update(socket.__dict__)
    layer.socket = WindowsSocket
    layer.SO_EXCLUSIVEADDRUSE = SO_EXCLUSIVEADDRUSE
    return layer, calls


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
    from _support import probe

    code = 'report(on=[s.defect for s in portfix.status() if s.applied and s.defect == "exclusive-bind"])'
    assert probe(code, disabled=False, env={"PORTFIX_EXCLUSIVE_BIND": "1"})["on"] == ["exclusive-bind"]
    assert probe(code, disabled=False, env={"PORTFIX_EXCLUSIVE_BIND": None})["on"] == []


@pytest.mark.cell_independent
def test_on_posix_the_option_does_not_exist_and_nothing_changes():
    # The real socket module here: SO_REUSEADDR cannot let two listeners share a port on Linux.
    assert _bind.exclusive_option() is None
