"""portfix.serve(): bound in the constructor, the real port everywhere, stop() frees it.

Runs on every cell of the matrix (with and without Flask), in-process with
portfix on, and in a child with PORTFIX_DISABLE=1: serve() needs none of
the patches.
"""

import errno
import socket
import threading

import pytest

import portfix
from _support import http_get, ipv6_loopback, is_listening, probe

WSGI_APP = """
def app(environ, start_response):
    body = b"served " + environ["PATH_INFO"].encode("ascii")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
namespace = {}
exec(WSGI_APP, namespace)
app = namespace["app"]


def test_serve_reports_the_bound_port_and_serves():
    with portfix.serve(app) as server:
        bound = server.server.socket.getsockname()
        assert server.port == bound[1] != 0
        assert server.server_address == bound
        assert server.host == "127.0.0.1"
        assert server.url == "http://127.0.0.1:%d/" % server.port
        assert server.thread.daemon and server.thread.is_alive()
        assert http_get(server.port, "/hello") == (200, "served /hello")
    assert server.stopped


def test_stop_frees_the_port_and_is_idempotent():
    server = portfix.serve(app)
    port = server.port
    assert is_listening(port)
    server.stop()
    server.stop()  # again: no error, returns at once
    assert not server.thread.is_alive()
    assert not is_listening(port)
    with socket.socket() as again:  # a server can bind it again (SO_REUSEADDR, as
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # servers do: TIME_WAIT)
        again.bind(("127.0.0.1", port))
        again.listen(1)


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_serve_on_ipv6_loopback():
    with portfix.serve(app, host="::1") as server:
        assert server.server_address[:2] == ("::1", server.port)
        assert server.url == "http://[::1]:%d/" % server.port
        assert http_get(server.port, "/six", host="::1") == (200, "served /six")


def test_threaded_by_default():
    release = threading.Event()
    seen = {}

    def blocking(environ, start_response):
        if environ["PATH_INFO"] == "/release":
            release.set()
        else:  # /wait holds its thread until /release came in on another
            seen["released"] = release.wait(10)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    with portfix.serve(blocking) as server:
        waiter = threading.Thread(target=http_get, args=(server.port, "/wait"))
        waiter.start()
        assert http_get(server.port, "/release", timeout=5)[0] == 200
        waiter.join(15)
    assert seen == {"released": True}


def test_a_busy_port_raises_port_in_use_error_never_system_exit():
    with portfix.serve(app) as first:
        with pytest.raises(portfix.PortInUseError) as caught:
            portfix.serve(app, port=first.port)
        error = caught.value
        assert isinstance(error, OSError) and error.errno == errno.EADDRINUSE
        assert str(first.port) in str(error)
        assert http_get(first.port, "/still")[0] == 200  # the first one is untouched


def test_another_bind_failure_raises_bind_error_with_its_errno():
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: bind() fails
    # with EADDRNOTAVAIL and nothing listens.
    with pytest.raises(portfix.BindError) as caught:
        portfix.serve(app, host="192.0.2.1")
    assert caught.value.errno == errno.EADDRNOTAVAIL
    assert not isinstance(caught.value, portfix.PortInUseError)
    assert "192.0.2.1" in str(caught.value)


@pytest.mark.cell_independent
@pytest.mark.parametrize("port, error", [
    (70000, ValueError), (-1, ValueError), (65536, ValueError), ("http", ValueError),
    (True, TypeError), (1.5, TypeError), (None, TypeError), (b"80", TypeError),
])
def test_bad_ports_are_rejected_before_any_bind(port, error):
    with pytest.raises(error) as caught:
        portfix.serve(app, port=port)
    assert repr(port) in str(caught.value)


@pytest.mark.cell_independent
@pytest.mark.parametrize("host", ["", None, "unix:///tmp/portfix.sock"])
def test_bad_hosts_are_rejected(host):
    with pytest.raises(ValueError) as caught:
        portfix.serve(app, host=host)
    assert repr(host) in str(caught.value)


def test_serve_needs_no_patch_and_works_with_portfix_disabled():
    code = WSGI_APP + """
server = portfix.serve(app)
from http.client import HTTPConnection
c = HTTPConnection("127.0.0.1", server.port, timeout=10)
c.request("GET", "/off")
r = c.getresponse()
report(port=server.port, sock=server.server.socket.getsockname()[1], status=r.status, body=r.read().decode(),
       patched=[s.defect for s in portfix.status() if s.applied])
server.stop()
"""
    result = probe(code, disabled=True)
    assert result["port"] == result["sock"] != 0
    assert (result["status"], result["body"]) == (200, "served /off")
    assert result["patched"] == []
