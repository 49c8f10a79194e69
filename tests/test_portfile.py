"""The port file (PORTFIX_PORT_FILE): atomic, written once the socket listens,
by the process that binds, once with the reloader; never through a symlink."""

import os
import re
import threading
import time

import pytest

from _support import BOUND_SPY, MODES, http_get, installed, is_listening, port_for_app_run, probe, start, wait_running_on, worker_server
from portfix._portfile import port_file_path, read_port_file, write_port_file
from portfix._process import RUNNING_ON

WHOLE = re.compile(r"\A[0-9]+\n\Z")

# Runs the cell's own entry point: app.run with Flask, run_simple without.
# The spy prints which process wrote the port file (the patches imported
# write_port_file by name, so it is wrapped where they call it).
SERVE_APP = """
import portfix._werkzeug as _pw
_write = _pw.write_port_file
def _spy(path, port):
    wrote = _write(path, port)
    sys.stdout.write("WROTE %d PID %d %s\\n" % (port, os.getpid(), wrote))
    sys.stdout.flush()
    return wrote
_pw.write_port_file = _spy
use_reloader = os.environ.get("TEST_RELOADER") == "1"
extra_files = [os.environ["TEST_TRIGGER"]] if use_reloader else None
try:
    from flask import Flask
except ImportError:
    from werkzeug.serving import run_simple
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]
    run_simple("127.0.0.1", int(os.environ.get("TEST_PORT", "0")), app, use_reloader=use_reloader, reloader_interval=0.2, extra_files=extra_files)
else:
    app = Flask("portfile")
    app.add_url_rule("/", "index", lambda: "ok")
    app.run(host="127.0.0.1", port=int(os.environ.get("TEST_PORT", "0")), use_reloader=use_reloader, reloader_interval=0.2, extra_files=extra_files)
"""
WROTE = re.compile(r"WROTE (\d+) PID (\d+) (True|False)")


@pytest.mark.cell_independent
def test_format_is_the_port_and_a_newline(tmp_path):
    path = str(tmp_path / "port")
    assert write_port_file(path, 43589) is True
    with open(path) as f:
        assert f.read() == "43589\n"
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)
    assert read_port_file(path) == 43589
    assert os.listdir(str(tmp_path)) == ["port"]  # no temporary file left behind


@pytest.mark.cell_independent
def test_the_same_port_is_not_rewritten(tmp_path):
    path = str(tmp_path / "port")
    write_port_file(path, 5001)
    inode = os.stat(path).st_ino
    assert write_port_file(path, 5001) is False
    assert os.stat(path).st_ino == inode
    assert write_port_file(path, 5002) is True
    assert read_port_file(path) == 5002


@pytest.mark.cell_independent
def test_a_symlink_at_the_path_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text(u"keep me\n")
    path = tmp_path / "port"
    os.symlink(str(victim), str(path))
    write_port_file(str(path), 40000)
    assert victim.read_text() == u"keep me\n"
    assert not os.path.islink(str(path))
    assert path.read_text() == u"40000\n"


@pytest.mark.cell_independent
def test_a_symlink_to_a_file_holding_the_same_port_is_still_replaced(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text(u"40000\n")
    path = tmp_path / "port"
    os.symlink(str(victim), str(path))
    assert write_port_file(str(path), 40000) is True
    assert not os.path.islink(str(path))


@pytest.mark.cell_independent
def test_a_reader_polling_in_a_loop_never_sees_a_partial_file(tmp_path):
    path = str(tmp_path / "port")
    seen, bad = set(), []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                with open(path) as f:
                    text = f.read()
            except (IOError, OSError):
                continue
            seen.add(text)
            if not WHOLE.match(text):
                bad.append(text)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(3000):
            write_port_file(path, 1 + i * 21 % 65535)  # 1 to 5 digits
    finally:
        done.set()
        thread.join(10)
    assert bad == []
    assert len(seen) > 1  # the reader did run between writes


@pytest.mark.cell_independent
@pytest.mark.parametrize("kind", ["folder", "missing folder"])
def test_a_bad_path_is_named_before_anything_binds(tmp_path, monkeypatch, kind):
    path = str(tmp_path) if kind == "folder" else str(tmp_path / "nope" / "port")
    monkeypatch.setenv("PORTFIX_PORT_FILE", path)
    with pytest.raises(ValueError) as caught:
        port_file_path()
    assert repr(path) in str(caught.value)


def test_app_run_with_a_bad_path_fails_before_binding(tmp_path):
    path = str(tmp_path / "nope" / "port")
    with start(SERVE_APP, disabled=False, env={"PORTFIX_PORT_FILE": path}) as child:
        assert child.wait_exit(30) != 0
        output = child.output()
    assert "ValueError" in output and repr(path) in output
    assert not RUNNING_ON.search(output)


def _poll(path, seen, done):
    """Read *path* in a loop, as a harness waiting for the port would."""
    while not done.is_set():
        try:
            with open(path) as f:
                seen.append(f.read())
        except (IOError, OSError):
            pass


@pytest.mark.parametrize("disabled", MODES)
def test_written_once_the_socket_listens_by_the_binding_process(tmp_path, disabled):
    path = str(tmp_path / "port")
    seen, done = [], threading.Event()
    reader = threading.Thread(target=_poll, args=(path, seen, done))
    reader.start()
    try:
        with port_for_app_run(disabled) as port, start(
            SERVE_APP, disabled, env={"PORTFIX_PORT_FILE": path, "TEST_PORT": str(port)}
        ) as child:
            if disabled:  # nothing of portfix runs: no file, whatever the release
                wait_running_on(child)
                assert not os.path.exists(path)
                return
            match = child.wait_for(WROTE, 30)
            port = int(match.group(1))
            assert is_listening(port)  # written after listen(): connectable at once
            assert read_port_file(path) == port
            assert int(match.group(2)) == child.pid
            announced = [m for m in map(RUNNING_ON.search, child.lines) if m]  # before or after the write
            assert int(announced[0].group(3) if announced else wait_running_on(child)) == port
    finally:
        done.set()
        reader.join(10)
    # The reader polled from before the child started: never a partial file.
    assert seen and all(WHOLE.match(text) for text in seen), set(seen)


def test_with_the_reloader_the_file_is_written_once_and_stays_right(tmp_path):
    """Two reloads: the same port, the file written once: by the parent on
    Werkzeug >= 0.11 (it binds the socket the workers inherit); on <= 0.10 by
    the first worker, which binds, and later workers find their port there."""
    path = str(tmp_path / "port")
    trigger = tmp_path / "trigger.txt"
    trigger.write_text(u"0")
    env = {"PORTFIX_PORT_FILE": path, "TEST_RELOADER": "1", "TEST_TRIGGER": str(trigger)}
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
    assert [w for w in writes if w[2] == "True"] == [writes[0]]
    if _between("0.11", "99"):
        assert writes == [(str(port), str(child.pid), "True")]


def test_the_port_file_hook_is_installed_only_when_the_variable_is_set():
    code = """
report(on=[s.defect for s in portfix.status() if s.applied and s.defect.startswith("port-file")])
"""
    assert probe(code, disabled=False, env={"PORTFIX_PORT_FILE": None})["on"] == []
    on = probe(code, disabled=False, env={"PORTFIX_PORT_FILE": "/tmp/x"})["on"]
    assert "port-file" in on
    assert ("port-file-reloader" in on) == _between("0.11", "2.1")


def _between(low, high):
    from portfix._versions import matches

    wz = installed("werkzeug")
    return wz is not None and matches(wz, ">=%s,<%s" % (low, high))

