"""The lifeline, the child's side: a child of ``Child(..., lifeline=True)`` dies with its parent.

A child that calls ``hold_lifeline()`` dies with its whole process group when
the parent dies, even by SIGKILL, which no handler can catch: the child
watches a pipe whose only writer is the parent.  The parent's side (making
the pipe, passing it on, closing it) is ``_process.Child``.  This module
imports only what the child needs (no ``subprocess``): the built-in check's
child loads it at the top of its start-up.
"""

import os
import select
import signal
import stat
import threading

# The read end of the lifeline pipe, in the child: its fd number.
LIFELINE_ENV = "PORTFIX_CHECK_LIFELINE"

_ORPHAN_WAIT = 1.0  # seconds an exiting child whose output lost its reader waits to see the lifeline end
_REMOVALS = 10  # attempts at removing the folder while this process may still write in it


class _Lifeline(object):
    """The lifeline of this process (a child), once ``hold_lifeline`` took it."""

    def __init__(self, fd, identity, folder):
        self.fd, self.identity, self.folder = fd, identity, folder


_held = []  # at most one _Lifeline


def hold_lifeline(folder=None):
    """In a child started with ``Child(..., lifeline=True)``: die with the parent.

    Starts a daemon thread that waits on the lifeline pipe; when the parent is
    gone (the pipe's only writer closed, whatever killed the parent), it
    removes *folder* and sends SIGKILL to the child's whole process group (a
    reloader's workers too).  The same is done when the process exits (an
    ``atexit`` hook; and before ``os._exit`` where ``end_if_orphaned()`` is
    called) after the parent died: a write to the dead parent's output pipe
    raises BrokenPipeError, and the main thread may end the process before
    the thread has acted.

    Args:
        folder (str or None): the temporary folder the parent made for this
            child, which the dead parent can no longer remove; a symlink
            there is left alone.

    Does nothing, and returns False, when the variable is absent, does not
    name a pipe (FIFO), or the process does not lead its own process group
    (it must never signal a group it did not start).  The variable is
    removed from the environment and the fd made non-inheritable, so a
    reloader's workers (killed with the group) do not hold it.  The pipe is
    known by its identity (device and inode), not its fd number: an app that
    closes every fd and opens another file (``/dev/null``) under the same
    number is not taken for a dead parent; the lifeline just stops.

    Returns:
        bool: True when the thread watches the pipe.
    """
    value = os.environ.pop(LIFELINE_ENV, None)
    if not value or os.name != "posix":
        return False
    try:
        fd = int(value)
        if os.getpgrp() != os.getpid():
            return False
        status = os.fstat(fd)
        if not stat.S_ISFIFO(status.st_mode):
            return False
        os.set_inheritable(fd, False)
    except (ValueError, OSError):
        return False
    import atexit

    lifeline = _Lifeline(fd, (status.st_dev, status.st_ino), folder)
    _held[:] = [lifeline]
    atexit.register(end_if_orphaned)
    watcher = threading.Thread(target=_watch_lifeline, args=(lifeline,), name="portfix-lifeline")
    watcher.daemon = True
    watcher.start()
    return True


def _lifeline_state(lifeline, timeout):
    """``"gone"`` when the parent is gone, ``"held"`` while it lives, ``"lost"`` when the fd is no longer the pipe.

    Waits up to *timeout* seconds (None: without end) for the pipe to
    become readable, which only its end makes it (the parent never writes).
    It polls, never reads: an fd reused for another file loses no byte.
    """
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(lifeline.fd, select.POLLIN | select.POLLHUP)
            events = poller.poll(None if timeout is None else int(timeout * 1000))
            if any(revents & select.POLLNVAL for _, revents in events):
                return "lost"  # the fd was closed
        else:  # pragma: no cover - every POSIX Python has poll
            events = select.select([lifeline.fd], [], [], timeout)[0]
        status = os.fstat(lifeline.fd)
    except (OSError, ValueError):
        return "lost"
    if not stat.S_ISFIFO(status.st_mode) or (status.st_dev, status.st_ino) != lifeline.identity:
        return "lost"
    return "gone" if events else "held"


def _watch_lifeline(lifeline):
    if _lifeline_state(lifeline, None) == "gone":
        _end_group(lifeline)


def _end_group(lifeline):
    """Remove the folder, then SIGKILL the process group (this process too).

    Run by the thread and, at exit, by the main thread, perhaps both at once:
    the interpreter stops a daemon thread at exit, maybe halfway.  The main
    thread may be writing in the folder meanwhile (the port file's temporary
    file): the removal is repeated until the folder is gone.
    """
    try:
        folder = lifeline.folder
        for _ in range(_REMOVALS):
            if folder is None or not stat.S_ISDIR(os.lstat(folder).st_mode):
                break
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass  # gone
    finally:
        os.killpg(os.getpgrp(), signal.SIGKILL)


def _output_orphaned():
    """True when stdout or stderr is a pipe whose reader is gone (a dead parent's)."""
    if not hasattr(select, "poll"):  # pragma: no cover - every POSIX Python has poll
        return False
    poller = select.poll()
    for fd in (1, 2):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                poller.register(fd, 0)  # POLLERR is always reported: a pipe without a reader
        except OSError:
            continue
    return any(revents & select.POLLERR for _, revents in poller.poll(0))


def end_if_orphaned():
    """In a child holding its lifeline: if the parent is gone, remove the folder and SIGKILL the group.

    For a process about to exit (``atexit`` runs it; call it before
    ``os._exit``), whose lifeline thread may not have acted yet.  While the
    parent lives it returns at once; when the output's reader is already
    gone (the parent is dying: its pipes close one after the other), it
    waits up to ``_ORPHAN_WAIT`` seconds for the lifeline to end too.
    """
    if not _held:
        return
    lifeline = _held[0]
    if _lifeline_state(lifeline, _ORPHAN_WAIT if _output_orphaned() else 0) == "gone":
        _end_group(lifeline)
