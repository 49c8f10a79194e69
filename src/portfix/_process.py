"""Child processes for ``portfix check`` and the tests: start, read, stop by pid.

A child runs in its own process group (session), so a reloader's workers are
stopped with it; every wait has a deadline; what is kept of its output is
bounded (its last lines, each cut to a length), however much it writes.

Signals: while ``stop_on_signals()`` is active, SIGINT, SIGTERM and SIGHUP
raise ``Interrupted`` in the main thread, so ``with Child(...)`` blocks and
``finally`` clauses stop the child and remove what was made for it.  Starting
and stopping a child are ``shielded()``: a signal arriving then is held back
and raised once that step is done, so no child is left half started or half
stopped.

A child started with ``lifeline=True`` that calls ``hold_lifeline()`` dies
with its whole process group when the parent dies, even by SIGKILL, which no
handler can catch: the child reads a pipe whose only writer is the parent.
The child's side is ``_lifeline`` (re-exported here).
"""

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque

# The lifeline's child side lives in _lifeline, which a check's child loads
# without this module (and its subprocess import); re-exported here.
from ._lifeline import LIFELINE_ENV, end_if_orphaned, hold_lifeline  # noqa: F401
from ._text import escape

_RESIGNAL_INTERVAL = 0.5  # seconds between two SIGTERMs to a child's process group
_READ_SIZE = 65536  # bytes per read of the child's output
_FIRST_PAUSE = 0.001  # seconds: the first wait for a stopped group's last members
_MAX_PAUSE = 0.02  # seconds: the longest wait between two looks at a stopping group


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


# -- signals -----------------------------------------------------------------

_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived while ``stop_on_signals()`` was active.

    A BaseException, as KeyboardInterrupt is, so that no ``except Exception``
    on the way swallows it.

    Attributes:
        signum (int): the signal number.
        name (str): its name, e.g. ``"SIGTERM"``.
        exit_code (int): ``128 + signum``, what a shell reports for it
            (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
    """

    def __init__(self, signum):
        self.signum = signum
        try:
            self.name = signal.Signals(signum).name
        except ValueError:  # pragma: no cover - only the three above are handled
            self.name = "signal %d" % signum
        self.exit_code = 128 + signum
        BaseException.__init__(self, "interrupted by %s" % self.name)


class _SignalState(object):
    """What the handler needs; touched only by the main thread (handlers run there)."""

    def __init__(self):
        self.shield = 0  # depth of shielded() blocks
        self.pending = None  # a signal that arrived inside a shielded block
        self.raised = False  # Interrupted was raised: later signals are ignored


_signals = _SignalState()


def _on_signal(signum, frame):
    if _signals.raised or _signals.pending is not None:
        return  # already stopping: let the clean-up finish
    if _signals.shield:
        _signals.pending = signum
        return
    _signals.raised = True
    raise Interrupted(signum)


def _main_thread():
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stop_on_signals():
    """Turn SIGINT, SIGTERM and SIGHUP into ``Interrupted`` inside the block.

    Only in the main thread (elsewhere the block runs unchanged).  A signal
    the process started with ignored (``nohup`` ignores SIGHUP; a shell's
    background job, SIGINT) stays ignored.  After the first one, further
    signals are ignored until the block ends, so that clean-up can finish
    (it is bounded: ``Child.stop`` takes at most twice its grace).  The
    previous handlers are restored at the end.
    """
    if not _main_thread():
        yield
        return
    previous = {}
    for name in _STOP_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None:  # pragma: no cover - SIGHUP on Windows
            continue
        handler = signal.getsignal(signum)
        if handler == signal.SIG_IGN:
            continue
        previous[signum] = signal.SIG_DFL if handler is None else handler
        signal.signal(signum, _on_signal)
    _signals.raised, _signals.pending = False, None
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def shielded():
    """Hold back ``Interrupted`` inside the block; raise it when the block ends.

    For the steps that must not be cut in two: spawning a child and keeping
    its handle, stopping it, making and removing a temporary folder.
    Nested blocks raise at the end of the outermost one.
    """
    if not _main_thread():
        yield
        return
    _signals.shield += 1
    try:
        yield
    finally:
        _signals.shield -= 1
        if not _signals.shield and _signals.pending is not None:
            signum, _signals.pending = _signals.pending, None
            _signals.raised = True
            raise Interrupted(signum)


def _unread_bytes(pipe):
    """Bytes waiting in the pipe (a file object; 0 when it cannot be asked)."""
    try:
        import fcntl
        import struct
        import termios

        return struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except (ImportError, OSError, ValueError):  # pragma: no cover - not on Linux
        return 0


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
        lifeline (bool): give the child the read end of a pipe (its fd in
            ``PORTFIX_CHECK_LIFELINE``) for ``hold_lifeline()``; POSIX only.
        keep_lines (int): how many of the last lines of output are kept.
        line_length (int): bytes kept of one line; the rest is counted and
            shown as ``[... N more bytes]``.

    Output is decoded as UTF-8; undecodable bytes become lone surrogates
    (``escape()`` shows them as ``\\udcXX``).  Lines that scrolled out of the
    kept tail before a ``wait_for`` looked at them are not matched.
    """

    def __init__(self, argv, env=None, python=None, cwd=None, lifeline=False, keep_lines=500, line_length=2000):
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
            lifeline = False
        self._tail = deque(maxlen=keep_lines)
        self._stopped = False  # stop() ran to the end: the group is empty and reaped
        self._line_length = line_length
        self._count = 0  # lines ever received: the sequence number of the next one
        self._cursor = 0  # sequence number of the next line wait_for looks at
        self._partial = bytearray()  # the line being received, up to line_length bytes
        self._cut = 0  # bytes of that line not kept
        self._eof = False
        self._done = False  # stop() ended the reading: the reader files nothing more
        self._cond = threading.Condition()
        self._lifeline = None
        self._wake = None  # (read end, write end): stop() wakes the reader with it
        self.process = None
        try:
            with shielded():
                self._spawn(argv, environ, python, cwd, lifeline, kwargs)
        except Interrupted:
            if self.process is not None:
                self.stop()
            raise

    def _spawn(self, argv, environ, python, cwd, lifeline, kwargs):
        read_end = None
        if lifeline:
            read_end, self._lifeline = os.pipe()
            environ[LIFELINE_ENV] = str(read_end)
            kwargs["pass_fds"] = (read_end,)
        try:
            self.process = subprocess.Popen(
                [python or sys.executable] + list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=environ,
                cwd=cwd,
                bufsize=0,
                **kwargs
            )
        except BaseException:
            self._close_lifeline()
            raise
        finally:
            if read_end is not None:
                os.close(read_end)  # the child holds it now; the parent keeps only the writer
        self.pid = self.process.pid
        self.started = time.monotonic()  # for deadlines counted from the start
        if hasattr(select, "poll"):
            self._wake = os.pipe()
        self._reader = threading.Thread(target=self._read, name="portfix-child-reader")
        self._reader.daemon = True
        self._reader.start()

    # -- reading (the reader thread) --

    def _read(self):
        fd = self.process.stdout.fileno()
        poller = select.poll() if hasattr(select, "poll") else None
        if poller is not None:
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            poller.register(self._wake[0], select.POLLIN)
        while True:
            data = None
            if poller is not None:
                poller.poll()  # wait outside the lock; read and file under it (see settle)
            else:  # pragma: no cover - no poll(): read outside the lock, settle is approximate
                data = self._read_some(fd)
            with self._cond:
                if self._done:
                    return
                if data is None:
                    data = self._read_some(fd)
                if data:
                    self._feed(data)
                else:
                    if self._partial or self._cut:
                        self._add(bytes(self._partial), self._cut)
                    self._eof = True
                self._cond.notify_all()
            if not data:
                return

    @staticmethod
    def _read_some(fd):
        try:
            return os.read(fd, _READ_SIZE)
        except OSError:
            return b""

    def _feed(self, data):
        pieces = data.split(b"\n")
        complete, rest = pieces[:-1], pieces[-1]
        if complete:
            # Only the last keep_lines complete lines can stay: count the others unread.
            dropped = max(0, len(complete) - self._tail.maxlen)
            if dropped:
                self._count += dropped
            else:  # the first piece ends the line begun in an earlier read
                self._extend(complete[0])
                self._add(bytes(self._partial), self._cut)
            self._partial, self._cut = bytearray(), 0
            pieces = complete[max(dropped, 1):]
            if pieces and max(map(len, pieces)) <= self._line_length and b"\r" not in data:
                # The common case, in one decode: a line break is never part
                # of a UTF-8 sequence, so this splits as line by line would.
                self._tail.extend(b"\n".join(pieces).decode("utf-8", "surrogateescape").split("\n"))
                self._count += len(pieces)
            else:
                length = self._line_length
                for piece in pieces:
                    self._add(piece[:length], max(0, len(piece) - length))
        self._extend(rest)

    def _extend(self, piece):
        room = self._line_length - len(self._partial)
        if room > 0:
            self._partial += piece[:room]
        self._cut += max(0, len(piece) - max(room, 0))

    def _add(self, raw, cut):
        if not cut and raw.endswith(b"\r"):
            raw = raw[:-1]
        line = raw.decode("utf-8", "surrogateescape")
        if cut:
            line += " [... %d more bytes]" % cut
        self._tail.append(line)
        self._count += 1

    # -- what the parent asks --

    def wait_for(self, pattern, timeout):
        """Return the first match of *pattern* (a compiled regex) in a new line.

        Raises:
            ChildTimeout: not seen within *timeout* seconds, or the child's
                output ended first; the message has the last lines, escaped.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                kept = list(self._tail)
                first = self._count - len(kept)  # sequence number of kept[0]
                index = max(self._cursor, first) - first
                while index < len(kept):
                    line = kept[index]
                    index += 1
                    self._cursor = first + index
                    match = pattern.search(line)
                    if match:
                        return match
                self._cursor = self._count
                if self._eof:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChildTimeout("no %r within %.1f s; last lines:\n%s"
                                       % (pattern.pattern, timeout, self.tail_text()))
                self._cond.wait(remaining)
        try:
            self.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass  # the output ended (closed) but the process lives on: say so below
        raise ChildTimeout("child's output ended (exit code %s) before %r; last lines:\n%s"
                           % (self.process.returncode, pattern.pattern, self.tail_text()))

    def pause_for_output(self, timeout):
        """Return when a new line of output (or its end) arrives, or after *timeout* seconds.

        For a caller that polls something the child makes (a port file)
        and announces on its output ("Running on"): it looks again at once
        instead of after a fixed sleep.  After the end of the output it
        just sleeps *timeout*.
        """
        with self._cond:
            if self._eof:
                eof = True
            else:
                eof = False
                seen = self._count
                self._cond.wait_for(lambda: self._count != seen or self._eof, timeout)
        if eof:
            time.sleep(timeout)

    def wait_exit(self, timeout):
        """Wait for the child to exit; return its exit code (kills it on timeout).

        Woken by the end of its output, which comes as it exits (unless
        something else holds the pipe), and looking at the process at least
        every ``_MAX_PAUSE`` seconds: ``Popen.wait(timeout)`` alone sleeps up
        to 50 ms between two looks, which a benchmark of whole processes sees.
        """
        deadline = time.monotonic() + timeout
        try:
            with self._cond:
                while not self._eof and self.process.poll() is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, _MAX_PAUSE))
            return self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            raise ChildTimeout("child still running after %.1f s; last lines:\n%s" % (timeout, self.tail_text())) from None

    @property
    def lines(self):
        """The kept lines that ``wait_for`` or ``output`` has already looked at (list of str)."""
        with self._cond:
            first = self._count - len(self._tail)
            return list(self._tail)[:max(0, self._cursor - first)]

    def output(self):
        """The kept lines read so far, raw, as one str; later waits look past them."""
        with self._cond:
            self._cursor = self._count
            return "\n".join(self._tail)

    def tail(self, lines=20):
        """The last *lines* kept lines, each through ``escape()`` (list of str): safe to print."""
        with self._cond:
            kept = list(self._tail)
        return [escape(line) for line in kept[-lines:]] if lines > 0 else []

    def tail_text(self, lines=20, indent="    "):
        """``tail()`` as one str, one indented line each."""
        return "\n".join(indent + line for line in self.tail(lines))

    def settle(self, timeout):
        """Wait until what the child has written so far is in the kept tail.

        A pipe holding no unread bytes while the reader holds no unfiled
        ones (it reads and files under the lock held here) means every byte
        written before this call has been filed.

        Returns:
            bool: False when *timeout* seconds passed first.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._eof:
                if _unread_bytes(self.process.stdout) == 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    # -- stopping --

    def stop(self, grace=3.0):
        """Stop the child and every process of its group.  Idempotent.

        SIGTERM, repeated until the group is empty, then SIGKILL after *grace*
        seconds.  Signalling the group once is not enough: a reloader parent
        stopped while it forks leaves a worker that was born after the signal
        and would serve on, orphaned, holding the port and the output pipe.
        The lifeline is closed only once the group is empty, so the child's
        own clean-up (its port file) runs on SIGTERM.  Shielded from
        ``Interrupted``.

        Returns:
            int: the child's exit code.

        Raises:
            ChildTimeout: a process of the group survived SIGKILL for *grace*
                seconds more.
        """
        with shielded():
            if self._stopped:  # the group is gone: its pid may lead someone else's group by now
                return self.process.returncode
            return self._stop(grace)

    def _stop(self, grace):
        if os.name != "posix":  # pragma: no cover - not exercised here
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=grace)
            return self.process.returncode
        start = time.monotonic()
        signalled = None  # when the group was last signalled
        empty_scans = 0
        pause = _FIRST_PAUSE
        while empty_scans < 2:  # twice: a member may fork while another exits mid-scan
            if not self._group_alive():
                empty_scans += 1
                continue
            empty_scans = 0
            now = time.monotonic()
            if now - start > 2 * grace:
                raise ChildTimeout("process group %d survived SIGKILL; last lines:\n%s" % (self.pid, self.tail_text()))
            if now - start > grace:
                self._signal(signal.SIGKILL)
            elif signalled is None or now - signalled >= _RESIGNAL_INTERVAL:
                # Again every interval, for members born after the last signal;
                # not more often, so that handlers have time to finish.
                self._signal(signal.SIGTERM)
                signalled = now
            pause = self._pause(pause)
        self._close_lifeline()
        self._finish_reading(grace)
        self._stopped = True
        return self.process.returncode

    def _pause(self, pause):
        """Wait a little for the group to empty; return the next pause.

        While the leader runs, wait for its exit itself (``Popen.wait``
        looks again after 0.5, 1, 2, ... ms): a leader that dies of the
        signal at once is seen within about a millisecond, not after a fixed
        sleep.  Once it is reaped and other members remain, sleep, from 1 ms
        doubling up to ``_MAX_PAUSE``.
        """
        if self.process.returncode is None:
            try:
                self.process.wait(_MAX_PAUSE)
            except subprocess.TimeoutExpired:
                pass
            return pause
        time.sleep(pause)
        return min(pause * 2, _MAX_PAUSE)

    def _finish_reading(self, grace):
        """File what the group wrote, then stop reading; the pipe's end-of-file is not awaited.

        Every process of the group is gone, so all it wrote is in the pipe
        (``settle`` waits until that is filed).  A process that left the
        group (its own session) may still hold the pipe open, for as long as
        it runs: waiting for end-of-file would wait for it.
        """
        self.settle(grace)
        with self._cond:
            if not self._eof:
                if self._partial or self._cut:
                    self._add(bytes(self._partial), self._cut)
                self._eof = True
            self._done = True
            self._cond.notify_all()
        if self._wake is not None:
            os.write(self._wake[1], b"x")
        self._reader.join(grace)
        if not self._reader.is_alive():
            self.process.stdout.close()
            if self._wake is not None:
                for end in self._wake:
                    os.close(end)
                self._wake = None

    def _close_lifeline(self):
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None

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
