"""The child-process helper that portfix check and every test rely on:
stop() leaves no process of the child's group behind; the output kept is
bounded; the lifeline; signals turned into Interrupted."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from portfix._process import Child, ChildTimeout, Interrupted, shielded, stop_on_signals

# Cell-independent: the child-process helper with plain Python children.
pytestmark = pytest.mark.cell_independent

# The child answers SIGTERM by starting a grandchild and exiting, the way a
# Werkzeug reloader parent does when the signal lands while it forks its
# worker: the grandchild is born after the first signal ever reached the group.
LATE_GRANDCHILD = """
import os, signal, subprocess, sys, time
def on_term(*_):
    time.sleep(0.2)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    sys.stdout.write("GRANDCHILD %d\\n" % grandchild.pid)
    sys.stdout.flush()
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
sys.stdout.write("READY\\n")
sys.stdout.flush()
time.sleep(120)
"""


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_stop_also_stops_a_process_born_after_the_first_signal():
    child = Child(["-c", LATE_GRANDCHILD])
    child.wait_for(re.compile("READY"), 20)
    child.stop()
    found = re.search(r"GRANDCHILD (\d+)", child.output())
    assert found, child.output()
    assert not _alive(int(found.group(1)))
    assert child.stop() == child.process.returncode  # idempotent


def test_stop_of_an_exited_child_returns_its_code():
    child = Child(["-c", "import sys; sys.exit(3)"])
    assert child.wait_exit(20) == 3
    assert child.stop() == 3


# The child starts a process in a session of its own, which leaves the
# child's group (stop() cannot reach it) and keeps the output pipe open; the
# child's last words end without a newline.
OUTSIDER = """
import subprocess, sys, time
outsider = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
sys.stdout.write("OUTSIDER %d\\nlast words, no newline" % outsider.pid)  # one write: seen together
sys.stdout.flush()
time.sleep(60)
"""


def test_stop_reads_what_the_group_wrote_and_does_not_wait_for_a_process_that_left_it():
    # stop() waited its whole grace (3 s) for an end-of-file that the outsider
    # held back, and then left the unended last line unread.
    child = Child(["-c", OUTSIDER])
    outsider = None
    try:
        outsider = int(child.wait_for(re.compile(r"OUTSIDER (\d+)"), 30).group(1))
        child.stop()
        assert child.output().split("\n")[-1] == "last words, no newline"
        assert child.process.stdout.closed  # reading ended with the group
        assert _alive(outsider)  # left running: it is not of the group
    finally:
        child.stop()
        if outsider is not None and _alive(outsider):
            os.kill(outsider, signal.SIGKILL)


# -- what is kept of the output is bounded --------------------------------

MANY_LINES = """
import sys
out = sys.stdout.buffer
for i in range(20000):
    out.write(b"line %d\\n" % i)
out.write(b"z" * 3000000 + b"\\r\\n")
out.write(b"crlf\\r\\n")
out.write(b"\\xff\\x1b[2J no newline at the end")
"""


def test_the_output_kept_is_the_tail_with_long_lines_cut():
    child = Child(["-c", MANY_LINES], keep_lines=50, line_length=100)
    assert child.wait_exit(30) == 0
    child.stop()
    lines = child.output().split("\n")
    assert len(lines) == 50
    assert lines[:47] == ["line %d" % i for i in range(19953, 20000)]
    assert lines[47] == "z" * 100 + " [... 2999901 more bytes]"  # with the "\r"
    assert lines[48] == "crlf"
    assert lines[49] == "\udcff\x1b[2J no newline at the end"
    assert child.tail(2) == ["crlf", "\\udcff\\x1b[2J no newline at the end"]


def test_wait_for_finds_a_line_after_much_output_and_times_out_escaped():
    child = Child(["-c", MANY_LINES + "\nimport time; print('READY'); time.sleep(60)"], keep_lines=50)
    try:
        assert child.wait_for(re.compile("READY"), 30)
        with pytest.raises(ChildTimeout) as caught:
            child.wait_for(re.compile("never printed"), 0.2)
        message = str(caught.value)
        assert "\\udcff\\x1b[2J" in message and "\x1b" not in message
    finally:
        child.stop()


# -- the lifeline ----------------------------------------------------------

LIFELINE = """
import os, subprocess, sys, time
from portfix._process import hold_lifeline
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
sys.stdout.write("HOLDING %s %d\\n" % (hold_lifeline(), grandchild.pid))
sys.stdout.flush()
time.sleep(60)
"""


def test_the_lifeline_kills_the_childs_group_when_the_parent_side_closes():
    # The parent's write end closing is what the child sees when the parent
    # dies, whatever killed it (test_check_cleanup kills a real parent).
    child = Child(["-c", LIFELINE], lifeline=True)
    try:
        holding, grandchild = child.wait_for(re.compile(r"HOLDING (\w+) (\d+)"), 30).groups()
        assert holding == "True"
        child._close_lifeline()
        assert child.wait_exit(10) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while _alive(int(grandchild)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(int(grandchild))
    finally:
        child.stop()


# An app that closes every fd and opens /dev/null gets the lifeline's number
# for it: read there, end-of-file came at once and the healthy app was killed.
FD_REUSED = """
import os, sys, time
from portfix._process import LIFELINE_ENV, hold_lifeline
fd = int(os.environ[LIFELINE_ENV])
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, fd)  # the lifeline's number now names /dev/null
os.close(null)
sys.stdout.write("HOLDING %s\\n" % hold_lifeline())
sys.stdout.flush()
time.sleep(0.5)  # time for a lifeline thread to act
sys.stdout.write("ALIVE\\n")
sys.stdout.flush()
time.sleep(60)
"""


def test_an_fd_that_is_not_the_lifeline_pipe_is_not_watched():
    child = Child(["-c", FD_REUSED], lifeline=True)
    try:
        assert child.wait_for(re.compile(r"HOLDING (\w+)"), 30).group(1) == "False"
        child.wait_for(re.compile("ALIVE"), 30)
    finally:
        child.stop()


def test_without_a_lifeline_the_child_does_not_watch_one():
    child = Child(["-c", LIFELINE])
    try:
        assert child.wait_for(re.compile(r"HOLDING (\w+)"), 30).group(1) == "False"
    finally:
        child.stop()


# -- signals -----------------------------------------------------------------


def test_a_signal_inside_a_shielded_block_is_raised_at_its_end():
    steps = []
    with pytest.raises(Interrupted) as caught:
        with stop_on_signals():
            with shielded():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler runs here, in the main thread
                steps.append("finished the shielded step")
            steps.append("never")
    assert steps == ["finished the shielded step"]
    assert (caught.value.name, caught.value.exit_code) == ("SIGTERM", 143)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored


def test_a_signal_ignored_at_start_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


# The child writes to its output without pause, as an app logging at start-up
# does: once the parent is gone, a write fails (BrokenPipeError) and the main
# thread ends the process, perhaps before the lifeline thread has acted.
LIFELINE_WRITING = """
import os, subprocess, sys, time
from portfix._process import hold_lifeline
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
hold_lifeline(sys.argv[1])
sys.stdout.write("HOLDING %d\\n" % grandchild.pid)
sys.stdout.flush()
while True:
    sys.stdout.write("working\\n")
    sys.stdout.flush()
    time.sleep(0.0005)
"""


def _group_alive(pgid):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="looks for the group's processes in /proc")
@pytest.mark.parametrize("attempt", range(5))
def test_the_lifeline_cleans_up_when_the_childs_writes_fail_as_the_parent_dies(tmp_path, attempt):
    # What the child sees when the parent is SIGKILLed: the lifeline and its
    # output pipe close together.  Its main thread then died of
    # BrokenPipeError before the lifeline thread ran: the folder was left
    # (about 4 times in 5) and, at times, the grandchild.
    folder = tmp_path / "portfix-check-x"
    folder.mkdir()
    (folder / "port").write_text(u"1\n")
    read_end, write_end = os.pipe()
    env = dict(os.environ, PORTFIX_CHECK_LIFELINE=str(read_end))
    process = subprocess.Popen([sys.executable, "-c", LIFELINE_WRITING, str(folder)], env=env, pass_fds=(read_end,),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    os.close(read_end)
    grandchild = None
    try:
        grandchild = int(process.stdout.readline().split()[1])
        os.close(write_end)  # both at once, as when the parent dies
        write_end = None
        process.stdout.close()
        process.wait(timeout=30)
        deadline = time.monotonic() + 2
        while (_group_alive(process.pid) or folder.exists()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not folder.exists()
        assert not _group_alive(process.pid) and not _alive(grandchild)
    finally:
        if write_end is not None:
            os.close(write_end)
        for pid in (process.pid, grandchild):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.mark.cell_independent
def test_pause_for_output_returns_when_a_line_arrives():
    with Child(["-c", "import time; time.sleep(0.3); print('LINE'); time.sleep(60)"]) as child:
        start = time.monotonic()
        child.pause_for_output(30)
        waited = time.monotonic() - start
        # Returned because the line arrived: it is there the moment the
        # pause ends (a pause that returned at once would not see it yet),
        # and long before the 30 s.
        assert "LINE" in child.output(), waited
        assert waited < 20


@pytest.mark.cell_independent
def test_a_second_stop_sends_nothing_to_a_group_that_may_be_someone_elses(monkeypatch):
    # Once stop() has emptied and reaped the group, its id is free for the
    # system to give to another process group: a later stop() (a `with`
    # block's exit after an explicit stop) must not probe or signal it.
    child = Child(["-c", "import time; time.sleep(60)"])
    first = child.stop()
    sent = []
    real = os.killpg

    def spy(pgid, signum):
        sent.append((pgid, signum))
        return real(pgid, signum)

    monkeypatch.setattr(os, "killpg", spy)
    assert child.stop() == first
    child.__exit__(None, None, None)
    assert sent == []
