""".ci/lanes.py, the CI's session runner, against a fake nox: what it claims
about failures, --limit, signals and the processes a session leaves.

The fake nox is a shell script called as ``NOX --sessions NAME``; NAME picks
what it does.  Each one writes the pids it starts to DIR/NAME.pids, so the
test can check that none is left, and kills them itself if one is."""

import os
import signal
import subprocess
import sys
import time

import pytest

from _runner import alive

pytestmark = [
    pytest.mark.cell_independent,  # a shell script and the runner: no Flask/Werkzeug
    pytest.mark.skipif(not hasattr(os, "killpg") or not os.path.exists("/bin/sh"), reason="POSIX process groups"),
]

LANES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".ci", "lanes.py")
TIMEOUT = 60  # seconds for one lanes.py run; each below takes under 10

FAKE_NOX = r"""#!/bin/sh
dir=$(dirname "$0")
name=$2
echo $$ >>"$dir/$name.pids"
case "$name" in
  ok*) echo "=== 3 passed in 0.1s ===" ;;
  fails) echo "=== 1 failed, 2 passed in 0.1s ==="; exit 1 ;;
  hangs) exec sleep 60 ;;
  ignores-sigint) trap '' INT; exec sleep 60 ;;
  leaves-a-child) sleep 60 & echo $! >>"$dir/$name.pids"; echo "=== 1 passed in 0.1s ===" ;;
  counts-sigints)
    trap 'echo INT >>"$dir/sigints"; sleep 1; exit 130' INT
    echo ready >"$dir/ready"
    sleep 60 & echo $! >>"$dir/$name.pids"
    wait ;;
esac
"""


@pytest.fixture
def nox(tmp_path):
    path = tmp_path / "nox"
    path.write_text(FAKE_NOX)
    path.chmod(0o700)
    yield str(path)
    left = []
    for pids in tmp_path.glob("*.pids"):
        for pid in map(int, pids.read_text().split()):
            if alive(pid):
                left.append((pids.name, pid))
                os.kill(pid, signal.SIGKILL)
    assert left == [], "processes left behind (killed now)"


def _times(tmp_path, names):
    """Measured times that put *names* in the queue in the order given (longest first)."""
    path = tmp_path / "times"
    path.write_text("".join("%d %s  # comment\n" % (100 - i, name) for i, name in enumerate(names)))
    return str(path)


def _args(tmp_path, nox, names, *options):
    return [sys.executable, LANES, "--times", _times(tmp_path, names), "--logs", str(tmp_path)] + list(options) + [nox]


def _sessions(tmp_path, names):
    path = tmp_path / "sessions"
    path.write_text("".join(name + "\n" for name in names))
    return path.open()


def lanes(tmp_path, nox, names, *options):
    with _sessions(tmp_path, names) as stdin:
        return subprocess.run(_args(tmp_path, nox, names, *options), stdin=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=TIMEOUT)


def test_every_session_runs_and_the_run_passes_only_if_all_pass(tmp_path, nox):
    good = lanes(tmp_path, nox, ["ok-1", "ok-2", "ok-3"], "--lanes", "2")
    assert good.returncode == 0, good.stdout
    for name in ("ok-1", "ok-2", "ok-3"):
        assert "%s  # lane" % name in good.stdout and (tmp_path / (name + ".pids")).exists()
    bad = lanes(tmp_path, nox, ["ok-4", "fails"], "--lanes", "2")
    assert bad.returncode == 1, bad.stdout
    assert "fails  # lane" in bad.stdout and "FAILED" in bad.stdout


def test_a_session_that_cannot_start_fails_the_run_by_name(tmp_path, nox):
    result = lanes(tmp_path, str(tmp_path / "no-such-nox"), ["ok-1"])
    assert result.returncode == 1, result.stdout
    assert "1 session(s) did not run: ok-1" in result.stdout


def test_no_sessions_and_bad_options_are_refused(tmp_path, nox):
    assert lanes(tmp_path, nox, []).returncode == 1
    for option, value in (("--lanes", "0"), ("--limit", "0"), ("--limit", "inf"), ("--grace", "-1")):
        result = lanes(tmp_path, nox, ["ok-1"], option, value)
        assert result.returncode == 2, (option, value, result.stdout)
        assert "%s must be" % option in result.stdout and value in result.stdout
    assert not (tmp_path / "ok-1.pids").exists()  # refused before any session ran


def test_a_session_past_the_limit_is_stopped_and_fails_the_run(tmp_path, nox):
    began = time.monotonic()
    result = lanes(tmp_path, nox, ["hangs", "ok-1"], "--lanes", "2", "--limit", "1", "--grace", "30")
    assert result.returncode == 1, result.stdout
    assert "hangs still running after 1 s (--limit): stopped" in result.stdout
    assert "hangs  # lane" in result.stdout and "FAILED (ran past --limit)" in result.stdout
    assert time.monotonic() - began < 15  # stopped by its SIGINT, long before the grace ran out


def test_a_session_ignoring_sigint_is_killed_after_the_grace(tmp_path, nox):
    result = lanes(tmp_path, nox, ["ignores-sigint"], "--limit", "1", "--grace", "1")
    assert result.returncode == 1, result.stdout
    assert "FAILED (ran past --limit)" in result.stdout


def test_what_a_session_leaves_in_its_group_is_killed_and_named(tmp_path, nox):
    result = lanes(tmp_path, nox, ["leaves-a-child"])
    assert result.returncode == 0, result.stdout  # named, not failed: its tests passed
    assert "processes of leaves-a-child were left in its group after nox ended: killed" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_passes_one_sigint_to_each_session_and_ends_the_run(tmp_path, nox, signum):
    names = ["counts-sigints", "ok-1"]
    with _sessions(tmp_path, names) as stdin:
        process = subprocess.Popen(_args(tmp_path, nox, names, "--lanes", "1", "--grace", "30"),
                                   stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline and process.poll() is None, "the session never started"
            time.sleep(0.05)
        process.send_signal(signum)
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)  # a second signal (a runner's) must not reach the session again
        output = process.communicate(timeout=TIMEOUT)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=TIMEOUT)
    assert process.returncode == 128 + signum, output
    assert (tmp_path / "sigints").read_text() == "INT\n"  # once: a second one cuts nox's clean-up short
    assert not (tmp_path / "ok-1.pids").exists(), output  # the queue was emptied
    assert "1 session(s) started" in output and "1 never did" in output
