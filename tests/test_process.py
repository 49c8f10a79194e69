"""The child-process helper that portfix check and every test rely on:
stop() leaves no process of the child's group behind."""

import re

import pytest

from portfix._process import Child

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
