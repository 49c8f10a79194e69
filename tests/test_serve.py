"""portfix.serve(): bound in the constructor, the real port everywhere, stop() frees it.

Runs on every cell of the matrix (with and without Flask), in-process with
portfix on, and in a child with PORTFIX_DISABLE=1: serve() needs none of
the patches.
"""

import errno
import os
import socket
import threading
import time

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


# ---------------------------------------------------------------- the serving loop (#11)

def _serving_thread_id(server, before):
    """The kernel's id of *server*'s loop thread (Linux), or None."""
    native = getattr(server.thread, "native_id", None)  # Python >= 3.8
    if native is not None:
        return native
    deadline = time.monotonic() + 5
    while True:  # the one thread serve() started, once the warm-up request's thread has ended
        new = set(os.listdir("/proc/self/task")) - before
        if len(new) == 1 or time.monotonic() > deadline:
            return int(new.pop()) if len(new) == 1 else None
        time.sleep(0.05)


def _wakeups(tid):
    """How many times thread *tid* has been scheduled: voluntary and involuntary context switches."""
    with open("/proc/self/task/%d/status" % tid) as f:
        fields = dict(line.split(":", 1) for line in f if "ctxt_switches" in line)
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])


def _cpu_ticks(tid):
    """utime + stime of thread *tid*, in clock ticks (/proc/<pid>/task/<tid>/stat fields 14, 15)."""
    with open("/proc/self/task/%d/stat" % tid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads the thread's counters from Linux's /proc")
def test_an_idle_handle_sleeps_in_the_kernel():
    before = set(os.listdir("/proc/self/task"))
    with portfix.serve(app) as server:
        assert http_get(server.port, "/warm") == (200, "served /warm")
        tid = _serving_thread_id(server, before)
        assert tid is not None
        time.sleep(0.2)  # the request is over; the loop is back in its wait
        wakeups, ticks = _wakeups(tid), _cpu_ticks(tid)
        time.sleep(1.0)
        # A loop that polls for stop() wakes on a timer (20 times a second
        # before #11); this one only for a connection or stop().
        assert _wakeups(tid) == wakeups, "the idle serving thread woke up"
        assert _cpu_ticks(tid) == ticks, "the idle serving thread used CPU"
        assert http_get(server.port, "/after") == (200, "served /after")


def test_stop_from_another_thread_frees_the_port():
    server = portfix.serve(app)
    port = server.port
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive()
    assert server.stopped and not server.thread.is_alive()
    assert not is_listening(port)
    server.stop()  # again, from this thread: returns at once


def test_stop_while_a_request_is_in_flight():
    entered, release = threading.Event(), threading.Event()

    def slow(environ, start_response):
        entered.set()
        release.wait(10)
        start_response("200 OK", [("Content-Length", "4")])
        return [b"done"]

    server = portfix.serve(slow)  # threaded: the request has its own thread
    answers = []
    client = threading.Thread(target=lambda: answers.append(http_get(server.port, "/slow")))
    client.start()
    try:
        assert entered.wait(10)
        server.stop()  # does not wait for the request
        assert not server.thread.is_alive()
        assert not is_listening(server.port)
    finally:
        release.set()
        client.join(15)
    assert answers == [(200, "done")]  # the request in flight still got its answer


def test_stop_from_inside_a_request_of_an_unthreaded_server():
    holder = {}

    def stopping(environ, start_response):
        holder["server"].stop()  # in the loop's own thread
        start_response("200 OK", [("Content-Length", "7")])
        return [b"stopped"]

    server = holder["server"] = portfix.serve(stopping, threaded=False)
    assert http_get(server.port, "/", timeout=10) == (200, "stopped")
    server.thread.join(10)
    assert not server.thread.is_alive()
    assert not is_listening(server.port)


def test_werkzeugs_own_shutdown_ends_the_loop():
    server = portfix.serve(app)
    server.server.shutdown()  # socketserver's API: returns once the loop has ended
    assert not server.thread.is_alive()
    server.stop()
    assert not is_listening(server.port)


def test_256_handles_at_once_all_answer():
    count = 256
    try:
        import resource
    except ImportError:  # Windows: no descriptor limit to raise
        resource = None
    limit = resource.getrlimit(resource.RLIMIT_NOFILE) if resource is not None else None
    if limit is not None:
        # Each handle holds three descriptors (the listening socket and its
        # wakeup pair); keep a margin for the test run itself.
        soft, hard = limit
        needed = 3 * count + 256
        if soft != resource.RLIM_INFINITY and soft < needed:
            if hard != resource.RLIM_INFINITY and hard < needed:
                pytest.skip("needs %d file descriptors, the hard limit is %d" % (needed, hard))
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    handles = []
    try:
        for _ in range(count):
            handles.append(portfix.serve(app))
        answers = [http_get(h.port, "/%d" % i) for i, h in enumerate(handles)]
    finally:
        for handle in handles:
            handle.stop()
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
    assert answers == [(200, "served /%d" % i) for i in range(count)]
    assert len(set(h.port for h in handles)) == count
    assert not any(h.thread.is_alive() for h in handles)


def test_a_handle_that_cannot_start_its_thread_frees_the_port(monkeypatch):
    bound = []
    real = threading.Thread.start

    def refuse(thread):
        if thread.name.startswith("portfix-serve-"):
            bound.append(int(thread.name.rsplit("-", 1)[1]))
            raise RuntimeError("can't start new thread")
        return real(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(RuntimeError):
        portfix.serve(app)
    monkeypatch.undo()
    assert len(bound) == 1 and not is_listening(bound[0])
