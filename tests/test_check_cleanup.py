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


def _start_held_check(tmp_path):
    """A check whose child serves /hold and holds it; returns (process, child pid, grandchild pid)."""
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, "-m", "portfix", "check", "--app", "serving_app:app",
         "--path", "/hold", "--timeout", "120"],
        cwd=APPS, env=_env(tmp_path, SERVING_APP_READY=str(ready)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate(timeout=30)
            pytest.fail("the check's child never served /hold:\n%s%s" % (out, err))
        time.sleep(0.05)
    child, grandchild = (int(n) for n in ready.read_text().split())
    return process, child, grandchild


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


def test_a_sigkilled_check_takes_the_childs_process_group_with_it(tmp_path):
    process, child, grandchild = _start_held_check(tmp_path)
    try:
        process.kill()  # SIGKILL: no handler runs in the check
        process.communicate(timeout=30)
        deadline = time.monotonic() + 2
        while not (gone(child) and gone(grandchild) and not _check_folders(tmp_path)):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert gone(child) and gone(grandchild)
        assert _check_folders(tmp_path) == []  # the child removed it before it went
    finally:
        _kill_leftovers(child, grandchild)


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
