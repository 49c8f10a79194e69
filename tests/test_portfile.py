"""The port file (PORTFIX_PORT_FILE): claimed before the bind, published once
the socket listens by the process's first dev server, withdrawn when it
closes; nothing at the path that portfix did not write is ever changed.

Most tests run the cell's own entry point (app.run with Flask, run_simple
without; make_server; the reloader) in a real child process, with a spy on
``socket.bind`` to show that a refusal comes before any socket binds.
"""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from _support import BOUND, BOUND_SPY, MODES, PRELUDE, held_ephemeral_port, http_get, installed, is_listening, port_for_app_run, probe, start, wait_running_on, worker_server
from portfix import PortFileError
from portfix import _portfile
from portfix._portfile import claiming, configured_path, inspect, read_port_file
from portfix._process import RUNNING_ON, Child
from portfix._versions import matches

WHOLE = re.compile(r"\A[0-9]+\n\Z")

# The child: a spy prints every bind (before it happens) and every publish
# (after it), then the entry point TEST_ENTRY serves on 127.0.0.1.
SERVE_APP = """
import signal as _signal
_signal.signal(_signal.SIGINT, _signal.default_int_handler)  # as an interactive Ctrl+C meets it
_real_bind = socket.socket.bind
def _bind_spy(self, address):
    sys.stdout.write("BIND %r PID %d\\n" % (address, os.getpid()))
    sys.stdout.flush()
    return _real_bind(self, address)
socket.socket.bind = _bind_spy
import portfix._portfile as _pf
_publish = _pf.Claim.publish
def _publish_spy(self, port, *args, **kwargs):
    wrote = _publish(self, port, *args, **kwargs)
    sys.stdout.write("WROTE %d PID %d %s\\n" % (port, os.getpid(), wrote))
    sys.stdout.flush()
    return wrote
_pf.Claim.publish = _publish_spy
entry = os.environ.get("TEST_ENTRY", "app.run")
port = int(os.environ.get("TEST_PORT", "0"))
use_reloader = entry.endswith("reloader")
options = dict(use_reloader=True, reloader_interval=0.2, extra_files=[os.environ["TEST_TRIGGER"]]) if use_reloader else {}
if os.environ.get("TEST_CHDIR"):
    os.chdir(os.environ["TEST_CHDIR"])
def wsgi(environ, start_response):
    body = ("pid %d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
try:
    from flask import Flask
except ImportError:
    Flask = None
import werkzeug.serving
if os.environ.get("TEST_METRICS"):  # a metrics server, started after the app's
    import threading, time
    def _metrics():
        while _pf.read_port_file(os.environ["PORTFIX_PORT_FILE"]) is None:
            time.sleep(0.05)
        time.sleep(0.5)
        metrics = portfix.serve(wsgi)
        report(metrics=metrics.port, file=_pf.read_port_file(os.environ["PORTFIX_PORT_FILE"]))
    threading.Thread(target=_metrics, daemon=True).start()
if entry == "make_server":
    server = werkzeug.serving.make_server("127.0.0.1", port, wsgi)
    sys.stdout.write("SERVING %d\\n" % server.socket.getsockname()[1])
    sys.stdout.flush()
    if os.environ.get("TEST_SECOND"):
        second = werkzeug.serving.make_server("127.0.0.1", 0, wsgi)
        metrics = portfix.serve(wsgi)
        report(first=server.socket.getsockname()[1], second=second.socket.getsockname()[1], metrics=metrics.port,
               metrics_answers=metrics.url.startswith("http"), file=_pf.read_port_file(os.environ["PORTFIX_PORT_FILE"]))
    if os.environ.get("TEST_CLOSE"):
        server.server_close()
        report(closed=True, exists=os.path.lexists(os.environ["PORTFIX_PORT_FILE"]))
    server.serve_forever()
elif Flask is not None:
    app = Flask("portfile")
    app.add_url_rule("/", "index", lambda: "pid %d" % os.getpid())
    app.run(host="127.0.0.1", port=port, **options)
else:
    werkzeug.serving.run_simple("127.0.0.1", port, wsgi, **options)
"""
WROTE = re.compile(r"WROTE (\d+) PID (\d+) (True|False)")
BIND = re.compile(r"^BIND ")
SERVING = re.compile(r"SERVING (\d+)")
RESULT = re.compile(r"^RESULT (.*)$")

ENTRIES = ["app.run", "app.run+reloader", "make_server"]


def _wz(specifier):
    version = installed("werkzeug")
    return version is not None and matches(version, specifier)


def _env(path, entry="app.run", trigger=None, **extra):
    env = {"PORTFIX_PORT_FILE": path, "TEST_ENTRY": entry}
    if entry.endswith("reloader"):
        env["TEST_TRIGGER"] = str(trigger)
    env.update(extra)
    return env


_scripts = iter(range(1000000))


def _serve(tmp_path, path, entry="app.run", disabled=False, **extra):
    """Start the child program as a script (a reloader re-executes it)."""
    trigger = tmp_path / "trigger.txt"
    if not trigger.exists():
        trigger.write_text(u"0")
    script = tmp_path / ("app_%d.py" % next(_scripts))
    return start(BOUND_SPY + SERVE_APP, disabled, env=_env(path, entry, trigger, **extra), path=script)


def _published(child, timeout=40):
    """(port, pid) of the child's publish."""
    match = child.wait_for(WROTE, timeout)
    return int(match.group(1)), int(match.group(2))


def _snapshot(path):
    """What is at *path*, to show it did not change: lstat fields, and content or link target."""
    st = os.lstat(path)
    shown = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_ino, st.st_size, st.st_mtime_ns)
    if stat.S_ISLNK(st.st_mode):
        return shown + (os.readlink(path),)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            return shown + (f.read(),)
    return shown


@pytest.fixture
def in_process(monkeypatch, tmp_path):
    """PORTFIX_PORT_FILE set for this process; any claim left is withdrawn after the test."""
    path = str(tmp_path / "port")
    monkeypatch.setenv("PORTFIX_PORT_FILE", path)
    yield path
    claim = _portfile._state.claim
    if claim is not None:
        claim.withdraw()
        claim.release()


def _publish_here(port):
    with claiming(until_return=False) as claim:
        assert claim is not None
        claim.publish(port)
    return claim


# ------------------------------------------------------------------ the file itself


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_published_as_the_port_and_a_newline_then_withdrawn(in_process, tmp_path):
    claim = _publish_here(43589)
    with open(in_process, "rb") as f:
        assert f.read() == b"43589\n"
    assert read_port_file(in_process) == 43589
    assert os.listdir(str(tmp_path)) == ["port"]  # no temporary file left behind
    claim.withdraw()
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_mode_is_0666_masked_by_the_umask(in_process, umask):
    old = os.umask(umask)
    try:
        _publish_here(40001)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(in_process).st_mode) == 0o666 & ~umask


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_a_reader_polling_in_a_loop_never_sees_a_partial_file(in_process):
    seen, bad = set(), []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                with open(in_process) as f:
                    text = f.read()
            except (IOError, OSError):
                continue
            seen.add(text)
            if not WHOLE.match(text):
                bad.append(text)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            port = 1 + i * 211 % 65535  # 1 to 5 digits
            claim = _publish_here(port)
            deadline = time.monotonic() + 2
            while "%d\n" % port not in seen and time.monotonic() < deadline:
                time.sleep(0.001)  # the reader reads it at least once before it goes
            claim.withdraw()
    finally:
        done.set()
        thread.join(10)
    assert bad == []
    assert len(seen) > 100  # the reader did run between writes


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_withdraw_leaves_a_file_someone_wrote_since(in_process):
    claim = _publish_here(40002)
    os.unlink(in_process)
    with open(in_process, "w") as f:
        f.write("40002\n")  # the same content, but not the file portfix wrote
    claim.withdraw()
    assert read_port_file(in_process) == 40002


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_read_port_file_never_opens_a_fifo(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    result = []
    reader = threading.Thread(target=lambda: result.append(read_port_file(fifo)))
    reader.daemon = True  # a reader blocked in open() must not hang the run
    reader.start()
    reader.join(5)
    assert result == [None]
    assert inspect(fifo).kind == "a FIFO"


@pytest.mark.parametrize("content, port", [
    (b"8080\n", 8080), (b"65535\n", 65535), (b"0\n", None), (b"65536\n", None), (b"08080\n", None),
    (b"8080", None), (b"8080\n\n", None), (b" 8080\n", None), (b"+8080\n", None), (b"PORT=8080\n", None), (b"", None),
])
@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_only_a_port_and_one_newline_is_a_port_file(tmp_path, content, port):
    path = tmp_path / "port"
    path.write_bytes(content)
    assert read_port_file(str(path)) == port


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_relative_path_is_made_absolute_when_read(monkeypatch, tmp_path):
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("PORTFIX_PORT_FILE", "run/port")
    assert configured_path() == str(tmp_path / "run" / "port")


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
@pytest.mark.parametrize("value", ["run/", "run/.", "run/..", "po\0rt"])
def test_a_value_that_cannot_name_a_file_is_refused(monkeypatch, value):
    monkeypatch.setattr(os, "environ", dict(os.environ, PORTFIX_PORT_FILE=value))
    with pytest.raises(PortFileError) as caught:
        configured_path()
    assert "PORTFIX_PORT_FILE=%r" % value in str(caught.value)


# ------------------------------------------------------------------ refused before the bind


def _make(kind, path, tmp_path):
    """Put *kind* at *path*; return the text the error must name."""
    if kind == "other content":
        path.write_text(u"SECRET=1\nPORT=8080\n")
        return "a regular file that is not a port file is there"
    if kind == "the app's source":
        path.write_text(u"import flask\n" * 40)
        return "a regular file that is not a port file is there"
    if kind == "symlink to a port file":
        target = tmp_path / "target"
        target.write_text(u"40000\n")
        os.symlink(str(target), str(path))
        return "a symlink is there"
    if kind == "dangling symlink":
        os.symlink(str(tmp_path / "nowhere"), str(path))
        return "a symlink is there"
    if kind == "FIFO":
        os.mkfifo(str(path))
        return "a FIFO is there"
    if kind == "folder":
        path.mkdir()
        return "a folder is there"
    if kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
        return "a socket is there"
    if kind == "character device":
        try:
            os.mknod(str(path), 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # a node like /dev/null
        except (OSError, AttributeError) as exc:
            pytest.skip("cannot make a device node here (needs root and CAP_MKNOD): %s" % exc)
        return "a character device is there"
    raise AssertionError(kind)


KINDS = ["other content", "the app's source", "symlink to a port file", "dangling symlink", "FIFO", "folder",
         "socket", "character device"]


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
@pytest.mark.parametrize("kind", KINDS)
def test_the_claim_refuses_anything_but_a_port_file_and_leaves_it_alone(in_process, tmp_path, kind):
    path = tmp_path / "port"
    said = _make(kind, path, tmp_path)
    before = _snapshot(str(path))
    with pytest.raises(PortFileError) as caught:
        with claiming(until_return=False):
            pass
    assert "PORTFIX_PORT_FILE=%r" % str(path) in str(caught.value) and said in str(caught.value)
    assert _snapshot(str(path)) == before
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith(".portfix-")]
    assert _portfile._state.claim is None


# Through every entry point of the cell, where the claim sits in another
# patch: refused before any socket binds.
@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("kind", ["FIFO", "other content"])
def test_refused_before_any_bind_and_left_alone(tmp_path, kind, entry):
    path = tmp_path / "port"
    said = _make(kind, path, tmp_path)
    before = _snapshot(str(path))
    with _serve(tmp_path, str(path), entry) as child:
        code = child.wait_exit(40)
        output = child.output()
    assert code != 0
    assert "PortFileError" in output and "PORTFIX_PORT_FILE=%r" % str(path) in output and said in output, output
    assert not [line for line in output.splitlines() if BIND.match(line)], output  # no socket was bound
    assert _snapshot(str(path)) == before
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith(".portfix-")]


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
@pytest.mark.parametrize("value, said", [
    ("nope/port", "does not exist"), ("p" * 300, "File name too long"), ("port/", "names a folder")])
def test_the_claim_names_an_unusable_path(monkeypatch, tmp_path, value, said):
    monkeypatch.setenv("PORTFIX_PORT_FILE", str(tmp_path / value) + ("/" if value.endswith("/") else ""))
    with pytest.raises(PortFileError) as caught:
        with claiming(until_return=False):
            pass
    assert said in str(caught.value) and "PORTFIX_PORT_FILE=" in str(caught.value)
    assert ".portfix-" not in str(caught.value)  # names the setting, never a temporary file
    assert _portfile._state.claim is None


def _unusable(kind, tmp_path):
    """(path, text the error names, argv prefix to run the child with or None)."""
    if kind == "missing folder":
        return str(tmp_path / "nope" / "port"), "does not exist", None
    if kind in ("read-only folder", "full disk"):
        if os.geteuid() != 0 and kind == "read-only folder":
            os.chmod(str(tmp_path), 0o555)
            return str(tmp_path / "port"), "Permission denied", None
        mount = tmp_path / "mnt"
        mount.mkdir()
        options = "ro,size=64k" if kind == "read-only folder" else "size=4k"
        fill = "" if kind == "read-only folder" else " && (dd if=/dev/zero of=%s/fill bs=1k count=64 2>/dev/null; true)" % mount
        prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                  "mount -t tmpfs -o %s tmpfs %s%s && exec \"$0\" \"$@\"" % (options, mount, fill)]
        try:
            subprocess.run(prefix[:-1] + ["mount -t tmpfs -o size=4k tmpfs %s" % mount], check=True, timeout=20,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip("no private mount namespace here (needs root): %s" % exc)
        return str(mount / "port"), "Read-only file system" if kind == "read-only folder" else "No space left", prefix
    raise AssertionError(kind)


@pytest.mark.parametrize("entry, kind", [("app.run", "read-only folder"), ("app.run", "full disk")] + [
    (entry, "missing folder") for entry in ENTRIES])
def test_an_unusable_path_is_named_before_any_bind(tmp_path, kind, entry):
    path, said, prefix = _unusable(kind, tmp_path)
    if prefix is None:
        child = _serve(tmp_path, path, entry)
    else:
        script = tmp_path / "app.py"
        trigger = tmp_path / "trigger.txt"
        trigger.write_text(u"0")
        script.write_text(textwrap.dedent(PRELUDE) + SERVE_APP)
        child = Child(prefix[1:] + [sys.executable, str(script)], python=prefix[0],
                      env=dict(_env(path, entry, trigger), PORTFIX_DISABLE=None))
    with child:
        code = child.wait_exit(40)
        output = child.output()
    assert code != 0
    assert "PortFileError" in output and "PORTFIX_PORT_FILE=" in output and said in output, output
    assert ".portfix-" not in output.split("PORTFIX_PORT_FILE=", 1)[1].split("\n")[0]  # names the setting, not a temporary file
    assert not [line for line in output.splitlines() if BIND.match(line)], output


# ------------------------------------------------------------------ one live owner


@pytest.mark.parametrize("entry", ["app.run", "make_server"])
def test_a_port_file_of_a_live_server_is_refused_naming_port_and_holder(tmp_path, entry):
    path = str(tmp_path / "port")
    with _serve(tmp_path, path) as first:
        port, pid = _published(first)
        before = _snapshot(path)
        with _serve(tmp_path, path, entry) as second:
            code = second.wait_exit(40)
            output = second.output()
        assert code != 0
        assert "PortFileError" in output and "names port %d" % port in output and "pid %d" % pid in output, output
        assert not [line for line in output.splitlines() if BIND.match(line)], output
        assert _snapshot(path) == before
        assert http_get(port)[1] == "pid %d" % pid


def test_a_stale_port_file_is_replaced(tmp_path):
    path = tmp_path / "port"
    with held_ephemeral_port() as held:
        stale = held.getsockname()[1]
    path.write_text(u"%d\n" % stale)  # a port nobody listens on any more
    with _serve(tmp_path, str(path)) as child:
        port, pid = _published(child)
        assert read_port_file(str(path)) == port
        assert http_get(port)[1] == "pid %d" % pid


# ------------------------------------------------------------------ one writer per process


def test_a_later_server_of_the_process_never_overwrites_it(tmp_path):
    path = str(tmp_path / "port")
    with _serve(tmp_path, path, "make_server", TEST_SECOND="1") as child:
        seen = json.loads(child.wait_for(RESULT, 40).group(1))
        assert seen["file"] == seen["first"]
        assert len({seen["first"], seen["second"], seen["metrics"]}) == 3
        assert read_port_file(path) == seen["first"]
        assert len([m for m in map(WROTE.search, child.output().splitlines()) if m]) == 1


def test_app_run_then_serve_the_file_names_the_app(tmp_path):
    path = str(tmp_path / "port")
    with _serve(tmp_path, path, "app.run", TEST_METRICS="1") as child:
        port, _ = _published(child)
        seen = json.loads(child.wait_for(RESULT, 40).group(1))
        assert seen["file"] == port != seen["metrics"]
        assert read_port_file(path) == port


def test_serve_never_claims_nor_fails_because_of_the_port_file(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    code = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
with portfix.serve(app) as server:
    report(port=server.port)
"""
    assert probe(code, disabled=False, env={"PORTFIX_PORT_FILE": fifo})["port"] > 0
    assert inspect(fifo).kind == "a FIFO"


# ------------------------------------------------------------------ withdrawn at close


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("entry", ["app.run", "app.run+reloader"])
def test_withdrawn_when_the_server_ends_by_a_signal_which_still_ends_it(tmp_path, signum, entry):
    """The exit status is what the same signal gives with portfix off."""
    codes = {}
    for disabled in (True, False):
        path = str(tmp_path / ("port-%s" % disabled))
        with port_for_app_run(disabled) as port, _serve(tmp_path, path, entry, disabled, TEST_PORT=str(port)) as child:
            if entry.endswith("reloader"):
                serving = worker_server(child)[0]
            else:
                serving = int(child.wait_for(BOUND, 40).group(1))
            assert http_get(serving)[0] == 200  # answered: the serving loop runs, the signal meets it there
            if not disabled:
                assert read_port_file(path) == serving
            os.kill(child.pid, signum)
            codes[disabled] = child.wait_exit(30)
        assert not os.path.lexists(path)
    assert codes[False] == codes[True]


def test_withdrawn_at_server_close_and_a_later_server_may_claim_it(tmp_path):
    path = str(tmp_path / "port")
    with _serve(tmp_path, path, "make_server", TEST_CLOSE="1") as child:
        seen = json.loads(child.wait_for(RESULT, 40).group(1))
    assert seen == {"closed": True, "exists": False}


def test_an_apps_own_sigterm_handler_is_left_alone_and_the_file_goes_at_exit(tmp_path):
    path = str(tmp_path / "port")
    code = """
import signal
signal.signal(signal.SIGTERM, lambda *args: sys.exit(7))
""" + SERVE_APP
    with start(code, disabled=False, env=_env(path), path=tmp_path / "app.py") as child:
        port, _ = _published(child)
        os.kill(child.pid, signal.SIGTERM)
        assert child.wait_exit(30) == 7
    assert not os.path.lexists(path)


def test_after_sigkill_the_file_stays_and_the_next_start_replaces_it(tmp_path):
    path = str(tmp_path / "port")
    with _serve(tmp_path, path) as child:
        port, _ = _published(child)
        os.kill(child.pid, signal.SIGKILL)
        child.wait_exit(30)
    assert read_port_file(path) == port  # stale now: nobody listens there
    with _serve(tmp_path, path) as child:
        new_port, pid = _published(child)
        assert read_port_file(path) == new_port
        assert http_get(new_port)[1] == "pid %d" % pid


def test_a_relative_path_stays_where_it_was_when_portfix_read_it(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    env = dict(_env("port"), TEST_CHDIR=str(tmp_path / "elsewhere"), PORTFIX_DISABLE=None)
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(PRELUDE) + SERVE_APP)
    # portfix reads the variable at import, in tmp_path; the app then moves to elsewhere/.
    with Child([str(script)], env=env, cwd=str(tmp_path)) as child:
        port, _ = _published(child)
        assert read_port_file(str(tmp_path / "port")) == port
        assert not os.path.lexists(str(tmp_path / "elsewhere" / "port"))


# ------------------------------------------------------------------ every writer, every release


@pytest.mark.parametrize("disabled", MODES)
def test_written_once_the_socket_listens_by_the_binding_process(tmp_path, disabled):
    path = str(tmp_path / "port")
    seen, done = [], threading.Event()
    reader = threading.Thread(target=_poll, args=(path, seen, done))
    reader.start()
    try:
        with port_for_app_run(disabled) as port, _serve(tmp_path, path, "app.run", disabled, TEST_PORT=str(port)) as child:
            if disabled:  # nothing of portfix runs: no file, whatever the release
                wait_running_on(child)
                assert not os.path.exists(path)
                return
            port, pid = _published(child)
            assert is_listening(port)  # written after listen(): connectable at once
            assert read_port_file(path) == port
            assert pid == child.pid
            announced = [m for m in map(RUNNING_ON.search, child.lines) if m]  # before or after the write
            assert int(announced[0].group(3) if announced else wait_running_on(child)) == port
            deadline = time.monotonic() + 10  # the file goes when the child stops: let the reader see it first
            while not seen and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        done.set()
        reader.join(10)
    # The reader polled from before the child started: never a partial file.
    assert seen and all(WHOLE.match(text) for text in seen), set(seen)


def _poll(path, seen, done):
    """Read *path* in a loop, as a harness waiting for the port would."""
    while not done.is_set():
        try:
            with open(path) as f:
                seen.append(f.read())
        except (IOError, OSError):
            pass


def test_with_the_reloader_the_parent_owns_it_across_reloads_and_withdraws_it_at_exit(tmp_path):
    """Two reloads: the same port, the file written once: by the parent on
    Werkzeug >= 0.11 (it binds the socket the workers inherit); on <= 0.10 by
    the first worker, which binds, and later workers find their port there.
    The parent's exit removes it; no reload does."""
    path = str(tmp_path / "port")
    trigger = tmp_path / "trigger.txt"
    trigger.write_text(u"0")
    env = _env(path, "app.run+reloader", trigger)
    with start(BOUND_SPY + SERVE_APP, disabled=False, env=env, path=tmp_path / "app.py") as child:
        port, pid = worker_server(child)
        inode = os.stat(path).st_ino
        assert read_port_file(path) == port
        for reload in (1, 2):
            time.sleep(0.5)  # let the reloader record the trigger's mtime
            os.utime(str(trigger), (time.time() + 5 * reload, time.time() + 5 * reload))
            new_port, new_pid = worker_server(child)
            assert (new_port, new_pid != pid) == (port, True)
            pid = new_pid
            assert http_get(port)[0] == 200
            assert read_port_file(path) == port
        assert os.stat(path).st_ino == inode
        writes = [m.groups() for m in map(WROTE.search, child.output().splitlines()) if m]
        os.kill(child.pid, signal.SIGTERM)
        child.wait_exit(30)
    assert not os.path.lexists(path)
    assert [w for w in writes if w[2] == "True"] == [writes[0]]
    if _wz(">=0.11"):
        assert writes == [(str(port), str(child.pid), "True")]


def test_the_port_file_hook_is_installed_only_when_the_variable_is_set():
    code = """
report(on=[s.defect for s in portfix.status() if s.applied and s.defect.startswith("port-file")])
"""
    assert probe(code, disabled=False, env={"PORTFIX_PORT_FILE": None})["on"] == []
    on = probe(code, disabled=False, env={"PORTFIX_PORT_FILE": "/tmp/x"})["on"]
    assert "port-file" in on
    assert ("port-file-reloader" in on) == _wz(">=0.11,<2.1")


# ------------------------------------------------------------------ races and odd moments (adversarial review)


def _reserved_port():
    """A socket bound to an OS-chosen port with SO_REUSEADDR, never listening:
    no one's bind(port 0) gets that port while it is open, and a server that
    sets SO_REUSEADDR (Werkzeug's do) can still bind and listen on it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_a_server_on_a_fixed_port_replaces_a_file_naming_that_port(tmp_path):
    """Only a Werkzeug <= 0.10 reloader worker keeps a file that names its port
    (its own predecessor's); any other server writes its own, so a file
    planted by someone else (another user in a sticky /tmp) is never adopted."""
    path = tmp_path / "port"
    with _reserved_port() as reserved:
        port = reserved.getsockname()[1]
        path.write_text(u"%d\n" % port)
        os.chmod(str(path), 0o666)
        planted = os.stat(str(path)).st_ino
        with _serve(tmp_path, str(path), TEST_PORT=str(port)) as child:
            published, _ = _published(child)
            assert published == port
            assert os.stat(str(path)).st_ino != planted
            assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o666 & ~_umask()
            os.kill(child.pid, signal.SIGTERM)
            child.wait_exit(30)
    assert not os.path.lexists(str(path))


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


HOLD_CLAIM = """
import time
import portfix._portfile as pf
with pf.claiming(until_return=False) as claim:
    report(claimed=True)
    go = os.environ["TEST_GO"]
    while not os.path.exists(go):
        time.sleep(0.01)
    if os.environ.get("TEST_PUBLISH"):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        claim.publish(listener.getsockname()[1])
        report(published=listener.getsockname()[1])
        time.sleep(60)
"""


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_two_processes_never_both_replace_a_stale_file(in_process, tmp_path):
    """The second claim waits for the first (a lock on the folder), then finds
    a live server's port file and refuses: before, both judged the stale file
    and both replaced it."""
    with open(in_process, "w") as f:
        f.write("1\n")  # stale: nobody listens on port 1 here
    go = str(tmp_path / "go")
    env = {"PORTFIX_PORT_FILE": in_process, "TEST_GO": go, "TEST_PUBLISH": "1"}
    with start(HOLD_CLAIM, disabled=False, env=env) as child:
        child.wait_for(RESULT, 30)
        outcome = []

        def second():
            try:
                with claiming(until_return=False) as claim:
                    outcome.append(claim)
            except PortFileError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert outcome == []  # waiting for the first claim
        open(go, "w").close()
        published = json.loads(child.wait_for(RESULT, 30).group(1))["published"]
        thread.join(10)
        assert len(outcome) == 1 and isinstance(outcome[0], PortFileError), outcome
        assert "names port %d, on which pid %d" % (published, child.pid) in str(outcome[0])
        assert read_port_file(in_process) == published


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_between_claim_and_publish_leaves_no_temporary_file(tmp_path, signum):
    env = {"PORTFIX_PORT_FILE": str(tmp_path / "port"), "TEST_GO": str(tmp_path / "never")}
    with start(HOLD_CLAIM, disabled=False, env=env) as child:
        child.wait_for(RESULT, 30)
        assert [name for name in os.listdir(str(tmp_path)) if name.startswith(".portfix-")]
        os.kill(child.pid, signum)
        assert child.wait_exit(30) == -signum  # still ended by that signal
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_a_claim_in_progress_in_another_thread_is_waited_for(in_process):
    """Thread A claims and gives up (its bind failed); thread B, which waited,
    claims then and publishes: before, B left the file unwritten."""
    first_in, first_may_leave, second = threading.Event(), threading.Event(), []

    def first():
        with claiming(until_return=False):
            first_in.set()
            first_may_leave.wait(10)
        # left without publishing: released

    def other():
        with claiming(until_return=False) as claim:
            if claim is not None:
                claim.publish(40123)
            second.append(claim)

    a = threading.Thread(target=first)
    a.start()
    assert first_in.wait(10)
    b = threading.Thread(target=other)
    b.start()
    time.sleep(0.2)
    assert second == []  # B waits while A's claim is in progress
    first_may_leave.set()
    a.join(10)
    b.join(10)
    assert second and second[0] is not None
    assert read_port_file(in_process) == 40123


@pytest.mark.cell_independent  # the claim itself, no Flask/Werkzeug involved
def test_a_chmod_or_a_hard_link_does_not_stop_the_withdraw(in_process, tmp_path):
    claim = _publish_here(40124)
    os.chmod(in_process, 0o600)
    os.link(in_process, str(tmp_path / "copy"))  # someone's link: the inode stays, the name goes
    claim.withdraw()
    assert not os.path.lexists(in_process)


def test_a_relative_path_whose_working_folder_is_gone_is_a_clear_error(tmp_path):
    """portfix reads the variable at import: from a removed working folder,
    import and status() go on, and the server's claim says why."""
    gone = tmp_path / "gone"
    gone.mkdir()
    code = textwrap.dedent("""
        import json, os, sys
        # -c puts the working folder ('') on sys.path; CPython 3.13 fails
        # (SystemError) importing anything through it once it is removed.
        sys.path[:] = [entry for entry in sys.path if entry]
        os.chdir(sys.argv[1])
        os.rmdir(sys.argv[1])
        import portfix
        from portfix._errors import PortFileError
        from portfix._portfile import configured_path
        # CPython 3.13.0-3.13.2 turn a missed module attribute (portfix.status,
        # `from . import x`) into SystemError when the working folder is gone
        # (python/cpython#130932): no Python code can work around it there.
        if (3, 13, 0) <= sys.version_info[:3] <= (3, 13, 2):
            records = ["not asked: python/cpython#130932"]
        else:
            records = portfix.status()
        try:
            configured_path()
        except PortFileError as exc:
            print("RESULT " + json.dumps(dict(records=len(records), error=str(exc))))
    """)
    with Child(["-c", code, str(gone)], env={"PORTFIX_PORT_FILE": "relative.port", "PORTFIX_DISABLE": None}) as child:
        seen = json.loads(child.wait_for(RESULT, 30).group(1))
    assert seen["records"] > 0
    assert "working folder is gone" in seen["error"] and "relative.port" in seen["error"]
