"""``flask run --port 0`` under ``portfix run``, with and without the reloader, on every
Flask release that has ``flask run`` (0.11 and later), with an app that never imports portfix.

Flask <= 1.0 imports the app lazily, in a thread, while the reloader parent
binds: ``import portfix`` in the app comes too late there.  Under ``portfix
run`` portfix is loaded when the ``flask`` command imports Flask, before any
of that.  tests/flask_run_counts.py repeats these runs 20 times per mode for
the record; here a few runs per mode suffice.
"""

import os
import signal
import time

import pytest

from _runner import FLASK, START_TIMEOUT, alive, finish, portfix_run, wait_port_file, write_app
from _support import held_ephemeral_port, http_get, installed, wait_running_on
from portfix._process import Child
from portfix._versions import matches

pytestmark = pytest.mark.skipif(
    not installed("flask") or matches(installed("flask"), "<0.11"),
    reason="no Flask in this cell" if not installed("flask") else "flask run appeared in Flask 0.11",
)

# What the environment must not decide for these runs.
CLEAN = {"FLASK_APP": "app.py", "FLASK_DEBUG": None, "FLASK_ENV": None, "FLASK_RUN_HOST": None,
         "FLASK_RUN_PORT": None, "FLASK_RUN_RELOAD": None, "PORTFIX_PORT_FILE": None}
MODES = [pytest.param(False, id="no-reload"), pytest.param(True, id="reload")]


def flask_run(tmp_path, port, reload, port_file="port"):
    """``portfix run --port-file PORT_FILE -- flask run --port PORT ...`` in *tmp_path*."""
    write_app(tmp_path, flask=True)
    command = [FLASK, "run", "--host", "127.0.0.1", "--port", str(port), "--reload" if reload else "--no-reload"]
    return portfix_run(["--port-file", port_file, "--"] + command, env=CLEAN, cwd=str(tmp_path))


def served_pid(port):
    status, body = http_get(port)
    assert status == 200, body
    return int(body.split()[1])


def stop_and_check_gone(child, signum, pids):
    """Send *signum* to the runner's pid only, as `kill PID` would; every pid must go.

    Checked before the caller's Child.stop() signals the whole group.
    """
    os.kill(child.pid, signum)
    child.wait_exit(START_TIMEOUT)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if alive(pid)] == [], child.output()


@pytest.mark.parametrize("attempt", range(4))
@pytest.mark.parametrize("reload", MODES)
def test_the_port_file_is_written_every_run(tmp_path, reload, attempt):
    with flask_run(tmp_path, 0, reload) as child:
        port = wait_port_file(child, str(tmp_path / "port"))
        announced = wait_running_on(child, START_TIMEOUT)
        pid = served_pid(port)
        assert port == announced and port not in (0, 5000)
        assert (pid != child.pid) == reload  # a reloader worker, or flask itself (exec)
        # Stopped the way a user or a harness stops it; the whole tree goes
        # (HUP and KILL: Werkzeug's worker would serve on, see _boot).
        signum = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL)[attempt]
        stop_and_check_gone(child, signum, [child.pid, pid])


def test_a_reload_keeps_the_port(tmp_path):
    with flask_run(tmp_path, 0, reload=True) as child:
        port = wait_port_file(child, str(tmp_path / "port"))
        first = served_pid(port)
        time.sleep(1.5)  # the stat reloader (1 s interval) records app.py's mtime first
        later = time.time() + 5
        os.utime(str(tmp_path / "app.py"), (later, later))
        deadline = time.monotonic() + START_TIMEOUT
        second = first
        while second == first and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                second = served_pid(port)
            except OSError:
                # The old worker exits mid-request (a reset), or, on Werkzeug
                # <= 0.10, the port is closed until the new worker binds it.
                continue
        assert second != first, "no reload within %s s:\n%s" % (START_TIMEOUT, child.output())
        assert served_pid(port) == second  # the new worker serves on the same port
        assert wait_port_file(child, str(tmp_path / "port")) == port
        stop_and_check_gone(child, signal.SIGTERM, [child.pid, first, second])


@pytest.mark.parametrize("reload", MODES)
def test_a_busy_port_gives_port_in_use_error(tmp_path, reload):
    busy = held_ephemeral_port()
    port = busy.getsockname()[1]
    try:
        with flask_run(tmp_path, port, reload) as child:
            code, lines = finish(child)
            output = "\n".join(lines)
    finally:
        busy.close()
    assert code == 1, output
    assert not os.path.exists(str(tmp_path / "port"))
    if matches(installed("werkzeug"), "<2.1"):
        assert "portfix.PortInUseError: [Errno 98] Address already in use: 127.0.0.1:%d" % port in output
        assert "held by pid %d" % os.getpid() in output or "the process that holds it was not found" in output
    else:  # fixed releases keep upstream's own message and exit (pallets/werkzeug#2687)
        assert "Address already in use" in output and "PortInUseError" not in output


def test_without_portfix_run_flask_run_writes_no_port_file(tmp_path):
    """The contrast: an app that does not import portfix, and no portfix run."""
    write_app(tmp_path, flask=True)
    env = dict(CLEAN, PORTFIX_PORT_FILE=str(tmp_path / "port"), PORTFIX_DISABLE=None)
    command = ["run", "--host", "127.0.0.1", "--port", "0", "--no-reload"]
    with Child([FLASK] + command, env=env, cwd=str(tmp_path)) as child:
        wait_running_on(child, START_TIMEOUT)
        time.sleep(1.0)
        assert not os.path.exists(str(tmp_path / "port"))
