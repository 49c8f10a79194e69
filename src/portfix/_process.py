"""Child processes for ``portfix check`` and the tests: start, read, stop by pid.

A child runs in its own process group (session), so a reloader's workers are
stopped with it; every wait has a deadline.
"""

import os
import re
import signal
import subprocess
import sys
import queue
import threading
import time

_RESIGNAL_INTERVAL = 0.5  # seconds between two SIGTERMs to a child's process group

RUNNING_ON = re.compile(r"Running on (https?)://(\[[^\]]+\]|[^\s:/]+):(\d+)")


def _live_member(pgid):
    """True when /proc shows a non-zombie process in group *pgid* (True without /proc)."""
    if not os.path.isdir("/proc/self"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # after "pid (comm)": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class ChildTimeout(Exception):
    """The child did not print what was waited for before the deadline."""


class Child(object):
    """A Python child process whose merged stdout/stderr is read line by line.

    Args:
        argv (list of str): arguments after the interpreter, e.g. ``["-c", code]``.
        env (dict or None): extra environment variables (merged over ours);
            a value of None removes the variable.
        python (str or None): the interpreter, default ``sys.executable``.
        cwd (str or None): working directory.
    """

    def __init__(self, argv, env=None, python=None, cwd=None):
        environ = dict(os.environ)
        environ["PYTHONUNBUFFERED"] = "1"
        for key, value in (env or {}).items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        kwargs = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        else:  # pragma: no cover - not exercised here
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        self.process = subprocess.Popen(
            [python or sys.executable] + list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=environ,
            cwd=cwd,
            universal_newlines=True,
            **kwargs
        )
        self.pid = self.process.pid
        self.started = time.monotonic()  # for deadlines counted from the start
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="portfix-child-reader")
        self._reader.daemon = True
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern, timeout):
        """Return the first match of *pattern* (a compiled regex) in a new line.

        Raises:
            ChildTimeout: not seen within *timeout* seconds, or the child's
                output ended first; the message has the output so far.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChildTimeout("no %r within %.1f s; output:\n%s" % (pattern.pattern, timeout, self.output()))
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait()
                raise ChildTimeout(
                    "child exited (code %s) before %r; output:\n%s" % (self.process.returncode, pattern.pattern, self.output())
                )
            self.lines.append(line)
            match = pattern.search(line)
            if match:
                return match

    def wait_exit(self, timeout):
        """Wait for the child to exit; return its exit code (kills it on timeout)."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ChildTimeout("child still running after %.1f s; output:\n%s" % (timeout, self.output())) from None

    def output(self):
        """All lines read so far (draining what is already queued), as one str."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._queue.put(None)
                break
            self.lines.append(line)
        return "\n".join(self.lines)

    def stop(self, grace=3.0):
        """Stop the child and every process of its group.  Idempotent.

        SIGTERM, repeated until the group is empty, then SIGKILL after *grace*
        seconds.  Signalling the group once is not enough: a reloader parent
        stopped while it forks leaves a worker that was born after the signal
        and would serve on, orphaned, holding the port and the output pipe.

        Returns:
            int: the child's exit code.

        Raises:
            ChildTimeout: a process of the group survived SIGKILL for *grace*
                seconds more.
        """
        if os.name != "posix":  # pragma: no cover - not exercised here
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=grace)
            return self.process.returncode
        start = time.monotonic()
        signalled = None  # when the group was last signalled
        empty_scans = 0
        while empty_scans < 2:  # twice: a member may fork while another exits mid-scan
            if not self._group_alive():
                empty_scans += 1
                continue
            empty_scans = 0
            now = time.monotonic()
            if now - start > 2 * grace:
                raise ChildTimeout("process group %d survived SIGKILL; output:\n%s" % (self.pid, self.output()))
            if now - start > grace:
                self._signal(signal.SIGKILL)
            elif signalled is None or now - signalled >= _RESIGNAL_INTERVAL:
                # Again every interval, for members born after the last signal;
                # not more often, so that handlers have time to finish.
                self._signal(signal.SIGTERM)
                signalled = now
            time.sleep(0.02)
        # Every writer of the pipe is gone, so the reader sees end-of-file.
        self._reader.join(grace)
        if not self._reader.is_alive():
            self.process.stdout.close()
        return self.process.returncode

    def _group_alive(self):
        """Reap the leader if it exited; tell whether a live process of the group may be left.

        Zombies count as gone: an orphaned member is reaped by whoever
        adopted it, not by us, and it no longer holds a port or the pipe.
        A /proc scan is trusted only once the leader was reaped before it
        began: a member the leader forks during the scan could be missed
        while the leader is already seen dead.
        """
        leader_reaped = self.process.poll() is not None
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - a group member changed user
            return True
        return not leader_reaped or _live_member(self.pid)

    def _signal(self, signum):
        try:
            os.killpg(self.pid, signum)  # the child leads its own session and group
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
