"""``portfix wait PATH``: the port once it accepts connections, or why not, against real listeners."""

import contextlib
import socket
import subprocess
import sys

import pytest

from _runner import START_TIMEOUT, portfix_run, write_app
from _support import installed, ipv6_loopback, wait_running_on


def wait(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "portfix", "wait"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60, **kwargs)


@contextlib.contextmanager
def reserved_port():
    """A port bound but not listening: nothing accepts connections there while the block runs."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.cell_independent  # plain files and sockets
def test_no_file(tmp_path):
    path = tmp_path / "port"
    result = wait(str(path), "--timeout", "0.3")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "portfix wait: timed out after 0.3 s: no file at %s\n" % path


@pytest.mark.cell_independent  # plain files and sockets
def test_not_a_port_file(tmp_path):
    path = tmp_path / "port"
    path.write_text("hello\x1b[2J\n")
    result = wait(str(path), "--timeout", "0.2")
    assert result.returncode == 1
    assert result.stderr == ("portfix wait: timed out after 0.2 s: %s is not a port file "
                             "(it should hold a port number and a newline)\n" % path)


@pytest.mark.cell_independent  # plain files and sockets
def test_a_stale_port_file(tmp_path):
    path = tmp_path / "port"
    with reserved_port() as port:
        path.write_text("%d\n" % port)
        result = wait(str(path), "--timeout", "0.3")
    assert result.returncode == 1
    assert result.stderr == ("portfix wait: timed out after 0.3 s: the file names port %d but nothing "
                             "accepts connections there: a stale port file?\n" % port)


@pytest.mark.cell_independent  # plain files and sockets
@pytest.mark.parametrize("family", ["127.0.0.1", "::1"])
def test_a_listening_port_is_printed(tmp_path, family):
    if family == "::1" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    path = tmp_path / "port"
    with contextlib.closing(socket.socket(socket.AF_INET6 if ":" in family else socket.AF_INET)) as sock:
        sock.bind((family, 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        path.write_text("%d\n" % port)
        result = wait(str(path), "--timeout", "0")  # looked at once, even with no time
    assert (result.returncode, result.stdout, result.stderr) == (0, "%d\n" % port, "")


def test_waits_for_a_server_started_after_it(tmp_path):
    """The harness pattern: portfix run --port-file PATH ... & then portfix wait PATH."""
    path = tmp_path / "port"
    waiter = subprocess.Popen([sys.executable, "-m", "portfix", "wait", str(path), "--timeout", str(START_TIMEOUT)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        app = write_app(tmp_path, flask=bool(installed("flask")))
        with portfix_run(["--port-file", str(path), "--", sys.executable, app], env={"APP_RELOADER": "0"}) as server:
            announced = wait_running_on(server, START_TIMEOUT)
            out, err = waiter.communicate(timeout=START_TIMEOUT)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert (waiter.returncode, out, err) == (0, "%d\n" % announced, "")


@pytest.mark.cell_independent  # plain files and sockets
@pytest.mark.parametrize("args", [["--timeout", "abc"], ["--timeout", "-1"], ["--timeout", "nan"], []])
def test_usage_errors_exit_2(tmp_path, args):
    result = wait(*([str(tmp_path / "port")] if args else []) + args)
    assert result.returncode == 2 and "portfix wait: error: " in result.stderr
