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

RUNNING_ON = re.compile(r"Running on (https?)://(\[[^\]]+\]|[^\s:/]+):(\d+)")


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
        """Stop the child and its process group: SIGTERM, then SIGKILL. Idempotent."""
        if self.process.poll() is None or os.name == "posix":
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(getattr(signal, "SIGKILL", signal.SIGTERM))
                self.process.wait(timeout=grace)
        if self.process.stdout:
            self._reader.join(grace)
            self.process.stdout.close()
        return self.process.returncode

    def _signal(self, signum):
        try:
            if os.name == "posix":
                os.killpg(self.pid, signum)  # the child leads its own session
            else:  # pragma: no cover
                self.process.send_signal(signum)
        except (OSError, ProcessLookupError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
