"""``portfix check`` always cleans up and keeps to itself: a signal stops the
child and removes the temporary folder (exit 128 + signal, one line); a
SIGKILLed check takes the child's whole process group with it; the caller's
port file is left alone; the child's output costs bounded memory."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from _support import gone, installed

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
MODULE = "legacy_app" if installed("flask") else "wsgi_app"

# Started by a test runner, the check may inherit SIGINT (a shell's background
# job) or SIGHUP (nohup) ignored, which it rightly keeps ignored: this resets
# them to the default first, as an interactive shell would start it.
AS_FROM_A_TERMINAL = """
import os, signal, sys
for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, signal.SIG_DFL)
os.execv(sys.executable, [sys.executable] + sys.argv[1:])
"""


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    env.pop("PORTFIX_PORT_FILE", None)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp_path / "tmp")  # where the check makes its folder: the test can look
    env.update(extra)
    return env


def _check_folders(tmp_path):
    return glob.glob(str(tmp_path / "tmp" / "portfix-check-*"))


def _kill_leftovers(*pids):
    for pid in pids:
        if pid and not gone(pid):
            os.kill(pid, signal.SIGKILL)


def _start_check(tmp_path, **env):
    """``portfix check --app serving_app:app --path /hold``, started as from a terminal."""
    return subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, "-m", "portfix", "check", "--app", "serving_app:app",
         "--path", "/hold", "--timeout", "120"],
        cwd=APPS, env=_env(tmp_path, SERVING_APP_READY=str(tmp_path / "ready"), **env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
    )


def _wait_held(process, tmp_path):
    """(child pid, grandchild pid) once the check's child serves /hold."""
    ready = tmp_path / "ready"
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate(timeout=30)
            pytest.fail("the check's child never served /hold:\n%s%s" % (out, err))
        time.sleep(0.05)
    child, grandchild = (int(n) for n in ready.read_text().split())
    return child, grandchild


def _start_held_check(tmp_path):
    """A check whose child serves /hold and holds it; returns (process, child pid, grandchild pid)."""
    process = _start_check(tmp_path)
    child, grandchild = _wait_held(process, tmp_path)
    return process, child, grandchild


def _stat(pid):
    """(state, ppid, process group) of *pid* from /proc, or None when it is gone."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def _live_pids():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(entry)
            if found is not None and found[0] != "Z":
                yield int(entry), found


def _group(pgid):
    """The live (not zombie) processes of process group *pgid*."""
    return [pid for pid, (_, _, group) in _live_pids() if group == pgid]


def _group_leading_child(pid, timeout=60):
    """The pid of *pid*'s first child process that leads its own process group, as soon as /proc shows it.

    That is the check's child (started in a session of its own), not a helper
    an import runs (Python 3.6's uuid runs ``ldconfig -p``).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child, (_, parent, group) in _live_pids():
            if parent == pid and group == child:
                return child
        time.sleep(0.001)
    pytest.fail("process %d started no child of its own group within %g s" % (pid, timeout))


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_stops_the_child_and_removes_the_folder(tmp_path, signum, code):
    process, child, grandchild = _start_held_check(tmp_path)
    try:
        assert _check_folders(tmp_path)  # the check's folder exists while it runs
        os.kill(process.pid, signum)
        out, err = process.communicate(timeout=30)
        assert process.returncode == code, out + err
        name = signal.Signals(signum).name
        assert err.splitlines() == ["portfix check: interrupted by %s; the app was stopped" % name]
        assert out == ""
        assert gone(child) and gone(grandchild)  # stopped before the check exited: no wait here
        assert _check_folders(tmp_path) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
        _kill_leftovers(child, grandchild)


# The CLI, its package already imported, sending itself a signal at a moment
# before the check's own handlers are in place: while the arguments are read
# (build_parser), or just before stop_on_signals.  Signals as in a terminal
# (SIGINT raising KeyboardInterrupt, as Python sets it up).
SIGNAL_EARLY = """
import os, signal, sys
for signum in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, signal.SIG_DFL)
signal.signal(signal.SIGINT, signal.default_int_handler)
import portfix._process, portfix.__main__
signum, where = getattr(signal, sys.argv[1]), sys.argv[2]
module = portfix.__main__ if where == "build_parser" else portfix._process
real = getattr(module, where)
def signalled(*args, **kwargs):
    os.kill(os.getpid(), signum)
    return real(*args, **kwargs)
setattr(module, where, signalled)
sys.exit(portfix.__main__.main(sys.argv[3:]))
"""


@pytest.mark.cell_independent  # the check's own start, before any app or child runs
@pytest.mark.parametrize("where, prefix", [("build_parser", "portfix"), ("stop_on_signals", "portfix check")])
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_before_the_checks_handlers_ends_it_cleanly(tmp_path, name, where, prefix):
    # Ctrl-C there printed a KeyboardInterrupt traceback and exited 1.
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_EARLY, name, where, "check", "--app", MODULE + ":app"], cwd=APPS,
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
    )
    assert result.stdout == ""
    if name == "SIGINT":  # one line, and the code a shell gives SIGINT
        assert (result.returncode, result.stderr) == (130, "%s: interrupted by SIGINT\n" % prefix)
    else:  # nothing was started yet: the signal's default action, which says nothing
        assert (result.returncode, result.stderr) == (-getattr(signal, name), "")
    assert _check_folders(tmp_path) == []


def _marked(mark):
    """The live processes whose environment holds PORTFIX_TEST_MARK=*mark*."""
    found = []
    for pid, (state, _, _) in _live_pids():
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                if ("PORTFIX_TEST_MARK=%s" % mark).encode() in f.read().split(b"\0"):
                    found.append(pid)
        except OSError:
            continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the check's child in /proc")
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_while_plain_check_reads_its_arguments_stops_its_early_child(tmp_path, name):
    # `portfix check` with no option starts its child before it builds the
    # parser: a signal from then on stops the child, and says so.
    mark = "%d-%s" % (os.getpid(), name)
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_EARLY, name, "build_parser", "check"], cwd=APPS,
        env=_env(tmp_path, PORTFIX_TEST_MARK=mark), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=120,
    )
    assert result.stdout == ""
    assert (result.returncode, result.stderr) == (
        128 + getattr(signal, name), "portfix check: interrupted by %s; the app was stopped\n" % name)
    assert _marked(mark) == []  # stopped before the check exited: no wait here


@pytest.mark.cell_independent  # the check's own start, before any child runs
def test_ctrl_c_before_plain_checks_handlers_ends_it_cleanly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_EARLY, "SIGINT", "stop_on_signals", "check"], cwd=APPS,
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
    )
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "portfix check: interrupted by SIGINT\n")


# When the SIGKILL lands: as the child starts; while it imports; while it
# serves /hold; while the check stops it (the app is dead of SIGTERM, a member
# of its group still stopping).  Folders were left at each but the serving one.
KILL_MOMENTS = ["spawned", "importing", "serving", "stopping"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the check's child in /proc")
@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_a_sigkilled_check_takes_the_childs_process_group_with_it(tmp_path, moment):
    terminated = tmp_path / "terminated"  # written by the app's grandchild when SIGTERM reaches it
    process = _start_check(tmp_path, SERVING_APP_LINGER=str(terminated))
    child = grandchild = None
    try:
        if moment in ("spawned", "importing"):
            child = _group_leading_child(process.pid)  # its pid is the group's id
            if moment == "importing":
                time.sleep(0.15)
        else:
            child, grandchild = _wait_held(process, tmp_path)
            if moment == "stopping":
                armed = tmp_path / "terminated.armed"
                deadline = time.monotonic() + 30
                while not armed.exists() and time.monotonic() < deadline:
                    time.sleep(0.005)
                os.kill(process.pid, signal.SIGTERM)
                deadline = time.monotonic() + 30
                while not (terminated.exists() and gone(child)) and time.monotonic() < deadline:
                    time.sleep(0.005)
                assert terminated.exists() and gone(child)
        process.kill()  # SIGKILL: no handler runs in the check
        process.communicate(timeout=30)
        deadline = time.monotonic() + 2
        while _group(child) or _check_folders(tmp_path):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert gone(child) and _group(child) == []
        assert grandchild is None or gone(grandchild)
        left = _check_folders(tmp_path)  # removed by the child, or by the check before it stopped it
        assert left == [], [os.listdir(f) for f in left]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
        _kill_leftovers(child, grandchild, *(_group(child) if child else []))


@pytest.mark.parametrize("args", [[], ["--app", MODULE + ":app", "--path", "/health"]], ids=["built-in", "app"])
def test_the_callers_port_file_is_left_alone(tmp_path, args):
    # The built-in check's child used to inherit PORTFIX_PORT_FILE and
    # replace the caller's port with its own, dead a second later.
    port_file = tmp_path / "port"
    port_file.write_text(u"12345\n")
    before = os.stat(str(port_file))
    result = subprocess.run(
        [sys.executable, "-m", "portfix", "check", "--json"] + args, cwd=APPS,
        env=_env(tmp_path, PORTFIX_PORT_FILE=str(port_file)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    after = os.stat(str(port_file))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert port_file.read_text() == u"12345\n"
    assert json.loads(result.stdout)["port"] != 12345
    assert _check_folders(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads VmHWM from /proc")
def test_a_child_writing_a_lot_costs_the_check_bounded_memory(tmp_path):
    # 50 MB of lines and a 20 MB line: kept whole, they took the check to
    # about 160 MB; a bounded tail keeps it near an idle interpreter's size.
    report = tmp_path / "peak"
    result = subprocess.run(
        [sys.executable, "-m", "portfix", "check", "--app", "noisy_app:app", "--timeout", "120"], cwd=APPS,
        env=_env(tmp_path, NOISY_APP_REPORT=str(report), NOISY_APP_MB="50", NOISY_APP_LINE_MB="20"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    peak_kb = int(report.read_text().split()[1])  # "VmHWM:  27092 kB"
    assert peak_kb < 80 * 1024, peak_kb
