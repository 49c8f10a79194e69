"""The port file (``PORTFIX_PORT_FILE``): its whole life, in one place.

A test harness or an operator learns the port a dev server bound from the
file named by ``PORTFIX_PORT_FILE``.  Every writer (the Werkzeug patches)
goes through this module:

1. **Claimed before the bind** (``claiming()``).  The path is made absolute
   once, when portfix first reads the variable.  portfix only ever creates a
   new file, or replaces a previous port file: a regular file holding exactly
   ``"<port>\\n"`` on which no process listens (a stale one).  Anything else
   at the path -- another regular file, a symlink, a FIFO, a socket, a
   device, a folder -- a previous port file whose port a live process
   listens on, or a folder where no file can be created, is refused with
   ``PortFileError`` before any socket binds, and nothing at the path
   changes.  Nothing here opens a FIFO or a device: ``lstat`` first, then
   ``O_NOFOLLOW | O_NONBLOCK``.  The claim creates its temporary file in the
   same folder, so an unwritable folder or a full disk shows here too.
2. **Published once the server listens** (``Claim.publish``): ``"<port>\\n"``
   written to the temporary file, then linked (no file there) or renamed
   (a stale one there) onto the path: a reader sees no file or the whole
   number.  The mode is 0666 masked by the umask, as ``open()`` creates
   files.
3. **One owner per process**: the first dev server that claims it
   (``app.run``, ``flask run``, ``run_simple``, ``make_server``).
   ``serve()`` handles never claim (``exempt()``); a later server of the
   same process leaves the file alone; a reloader worker leaves it to the
   reloader parent, which owns it across reloads.
4. **Withdrawn when the owner closes**: ``server_close()``, the end of
   ``run_simple``, the interpreter's exit, or SIGTERM/SIGHUP/SIGINT whose
   handler was still the default (SIG_DFL; the process then still ends by
   that signal).  Removed only if it still is the file published (same
   inode, same content).  After SIGKILL it stays, and the next start
   replaces it as stale.
"""

import atexit
import errno
import logging
import os
import re
import signal
import stat
import threading
import time

from ._defects import PORT_FILE_ENV
from ._errors import PortFileError

_log = logging.getLogger("portfix")

# A port file is "<port>\n": 1-65535, no sign, no leading zero, one newline.
_CONTENT = re.compile(r"\A([1-9][0-9]{0,4})\n\Z")
_MAX_SIZE = len("65535\n")
_PLACEHOLDER = b"00000\n"  # claims the disk space the port will need
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0))
_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")  # each only where its handler is SIG_DFL
_LIVE_LOOKUP_TIMEOUT = 0.2  # seconds: is anyone listening on a previous file's port?
CLAIM_WAIT = 5.0  # seconds a claim waits for another one in progress (a bind takes milliseconds)

_KINDS = (
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def _port_of(data):
    """The port in a port file's bytes, or None when they are not ``"<port>\\n"``."""
    match = _CONTENT.match(data.decode("ascii", "replace"))
    if match is None or int(match.group(1)) > 65535:
        return None
    return int(match.group(1))


class Found(object):
    """What is at a path, seen without following a link or opening a FIFO.

    Attributes:
        kind (str): ``"nothing"``, ``"a port file"``, ``"a regular file"``,
            ``"a symlink"``, ``"a FIFO"``, ``"a socket"``, ``"a character
            device"``, ``"a block device"``, ``"a folder"`` or ``"something
            else"``.
        port (int or None): the port, for ``"a port file"``.
        identity (tuple or None): ``(st_dev, st_ino, st_ctime_ns)``: the
            inode and when it last changed (an inode number is reused at
            once when a file is removed and another created); None for
            nothing.
        uid (int or None): the owner; None for nothing.
    """

    __slots__ = ("kind", "port", "identity", "uid")

    def __init__(self, kind, port=None, identity=None, uid=None):
        self.kind = kind
        self.port = port
        self.identity = identity
        self.uid = uid

    def describe(self):
        """The kind, in words fit for an error message (``"a FIFO is there"``)."""
        if self.kind == "a port file":
            return "a port file naming port %d is there" % self.port
        if self.kind == "a regular file":
            return "a regular file that is not a port file is there"
        return "%s is there" % self.kind


def inspect(path):
    """Tell what is at *path*, without following a symlink or opening a FIFO or device.

    Args:
        path (str): the path to look at.

    Returns:
        Found: ``"a port file"`` only for a regular file of at most 6 bytes
        holding exactly ``"<port>\\n"`` (1-65535).

    Raises:
        OSError: the path cannot be looked at (``ENAMETOOLONG``,
            ``EACCES``, ``ENOTDIR``...); a missing path is ``"nothing"``.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Found("nothing")
    identity = _identity(st)
    for test, kind in _KINDS:
        if test(st.st_mode):
            return Found(kind, identity=identity)
    if not stat.S_ISREG(st.st_mode):
        return Found("something else", identity=identity)
    if st.st_size > _MAX_SIZE:
        return Found("a regular file", identity=identity)
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return Found("nothing")  # removed meanwhile
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or _identity(opened) != identity:
            return Found("something that changed while it was looked at", identity=_identity(opened))
        data = os.read(fd, _MAX_SIZE + 1)
    finally:
        os.close(fd)
    port = _port_of(data)
    return Found("a port file" if port is not None else "a regular file", port, identity, st.st_uid)


def _identity(st):
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def read_port_file(path):
    """Return the port in the port file at *path*, or None.

    Safe on any path: a symlink, a FIFO or a device there is not opened.

    Args:
        path (str): the port file.

    Returns:
        int or None: None when nothing is there (yet), the path cannot be
        read, or it is not a regular file holding exactly ``"<port>\\n"``.
    """
    try:
        return inspect(path).port
    except (OSError, ValueError):
        return None


def _listeners(port):
    """A description of who listens on TCP *port* on any address, or None when nobody does."""
    from ._holder import find_holders
    from ._text import escape

    holders = find_holders(None, port, timeout=_LIVE_LOOKUP_TIMEOUT)
    if holders:
        holder = holders[0]
        if holder.pid is not None:
            return "pid %d (%s)" % (holder.pid, escape(holder.cmdline) or "command line not readable")
        return "a process of uid %s" % (holder.uid,)
    import socket

    # Where the lookup cannot see sockets (no /proc), a connection tells.
    for family, host in ((socket.AF_INET, "127.0.0.1"), (getattr(socket, "AF_INET6", None), "::1")):
        if family is None:
            continue
        probe = socket.socket(family, socket.SOCK_STREAM)
        probe.settimeout(_LIVE_LOOKUP_TIMEOUT)
        try:
            if probe.connect_ex((host, port)) == 0:
                return "a process that accepts connections on %s" % host
        except OSError:
            pass
        finally:
            probe.close()
    return None


def _in_reloader_worker():
    # Werkzeug's reloader sets this in the worker processes it starts: the
    # reloader parent owns the port file across reloads.
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true"


class _State(object):
    """The process's port file: the path read, the claim in progress or published."""

    def __init__(self):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # a claim was published or given up
        self.raw = None  # the variable's value when it was made absolute
        self.path = None
        self.claim = None  # the Claim in progress, or the owner's
        self.exempt = threading.local()
        self.exit_hook = False
        self.handlers = {}  # signum -> our handler, where one was installed


_state = _State()


def configured_path():
    """Return the absolute path in ``PORTFIX_PORT_FILE``, or None when unset or empty.

    The path is made absolute the first time a value is read (``import
    portfix`` reads it), so a later ``os.chdir`` does not move the file.

    Raises:
        PortFileError: the value cannot name a file: it ends with a path
            separator, names ``.``/``..``, or holds a NUL character; or it
            is relative and the working folder no longer exists.
    """
    raw = os.environ.get(PORT_FILE_ENV, "")
    if not raw.strip():
        return None
    with _state.lock:
        if raw == _state.raw:
            return _state.path
        if "\0" in raw:
            raise PortFileError(raw, "holds a NUL character")
        if raw.endswith(("/", os.sep)) or os.path.basename(raw) in (".", ".."):
            raise PortFileError(raw, "names a folder; it must name a file")
        try:
            path = os.path.abspath(raw)
        except OSError as exc:  # a relative path, and the working folder was removed
            raise PortFileError(raw, _os_problem(exc, "is relative, and the working folder is gone")) from None
        _state.raw, _state.path = raw, path
        return path


class _Exempt(object):
    def __enter__(self):
        _state.exempt.on = True

    def __exit__(self, *exc_info):
        _state.exempt.on = False
        return False


def exempt():
    """``with exempt():`` servers built in this thread meanwhile never claim the port file.

    ``portfix.serve()`` uses it: its handles report their port in-process,
    and never fail because of the port file.
    """
    return _Exempt()


class _Scope(object):
    def __init__(self, until_return, skip):
        self.until_return = until_return
        self.skip = skip
        self.claim = None

    def __enter__(self):
        if self.skip or getattr(_state.exempt, "on", False):
            return None
        if self.until_return and _in_reloader_worker():
            return None  # the worker's server claims for itself, where it binds
        path = configured_path()
        if path is None:
            return None
        me = threading.current_thread()
        deadline = time.monotonic() + CLAIM_WAIT
        with _state.changed:
            while _state.claim is not None:
                current = _state.claim
                if not current.in_progress():
                    return None  # another server of this process owns it
                if current.thread is me:
                    current.depth += 1  # run_simple claimed, the server it builds binds
                    self.claim = current
                    return current
                # Another thread is claiming it: wait for it to publish (then
                # this server leaves the file alone) or give up (then claim).
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _log.warning("portfix: another thread has been claiming %s for %g s; this server "
                                 "does not write it", path, CLAIM_WAIT)
                    return None
                _state.changed.wait(remaining)
            claim = _state.claim = self.claim = Claim(path)
            claim.depth = 1
        try:
            claim.prepare()
        except BaseException:
            claim.release()
            raise
        return claim

    def __exit__(self, exc_type, exc, tb):
        claim = self.claim
        if claim is None:
            return False
        with _state.lock:
            claim.depth -= 1
            if claim.depth > 0:
                return False
        if claim.in_progress():
            claim.release()  # the bind failed, or nothing listened
        elif self.until_return:
            claim.withdraw()  # run_simple returned: the server is gone
        return False


def claiming(until_return, skip=False):
    """The scope in which a server binds and may publish the port file.

    ``with claiming(...) as claim:`` claims the port file on entry (before
    the bind) and gives a ``Claim``, or None when this server is not to write
    it.  On leaving the outermost scope, a claim that was not published is
    released (its temporary file removed).  While a claim is in progress,
    servers of other threads wait for it (up to ``CLAIM_WAIT`` seconds), and
    processes claiming a port file in the same folder wait on a lock of the
    folder: a stale file is never replaced by two of them.

    Args:
        until_return (bool): True for ``run_simple``, which returns when
            serving ends: the port file is withdrawn then too.  False for a
            server's constructor: the server owns the file after it returns.
        skip (bool): True where this server must not write (a reloader
            worker serving the socket its parent bound).

    Raises:
        PortFileError: the path cannot be used; nothing was changed there.
    """
    return _Scope(until_return, skip)


class Claim(object):
    """The port file being written by this process.

    Attributes:
        path (str): the absolute path.
        port (int or None): the port, once published.
        expected (int or None): the port reloader workers will publish
            (``leave_to_workers``).
    """

    def __init__(self, path):
        self.path = path
        self.thread = threading.current_thread()
        self.pid = os.getpid()
        self.depth = 0
        self.port = None
        self.expected = None
        self.withdraws = not _in_reloader_worker()
        self._found = None  # what was at the path when claimed
        self._temporary = None
        self._fd = None  # the temporary file's, then the published file's: held open, its inode cannot be reused
        self._published = None  # (st_dev, st_ino) of the published file
        self._folder_lock = None

    def in_progress(self):
        """True between the claim and its publishing (or giving up)."""
        return self._published is None and self.expected is None and self.port is None

    def _error(self, problem):
        return PortFileError(self.path, problem)

    def _inspect(self):
        try:
            return inspect(self.path)
        except OSError as exc:
            raise self._error(_os_problem(exc, "cannot look at the path")) from None

    def _refuse_unless_replaceable(self, found):
        """PortFileError unless *found* is nothing or a stale port file."""
        if found.kind == "nothing":
            return
        if found.kind != "a port file":
            raise self._error(
                "%s; portfix only creates a new port file or replaces a previous one (a regular file "
                "holding '<port>\\n'), so it left the path alone" % found.describe())
        holder = _listeners(found.port)
        if holder is not None:
            raise self._error(
                "names port %d, on which %s listens: another server owns this port file. Stop it, "
                "or give this server another PORTFIX_PORT_FILE" % (found.port, holder))
        # stale: nobody listens there any more

    def prepare(self):
        """Check the path and create the temporary file; nothing binds before this."""
        folder = os.path.dirname(self.path)
        if self.withdraws:
            _install_exit_hooks()  # the temporary file is ours from now on
        self._folder_lock = _lock_folder(folder, self._error)
        self._found = self._inspect()
        self._refuse_unless_replaceable(self._found)
        if not os.path.isdir(folder):
            raise self._error("its folder %r does not exist" % folder)
        for _ in range(100):
            temporary = os.path.join(folder, ".portfix-%s.tmp" % os.urandom(6).hex())
            with _signals_held():  # no handler between the creation and the note of it
                try:
                    fd = os.open(temporary, _CREATE_FLAGS, 0o666)  # the umask applies, as with open()
                except FileExistsError:
                    continue
                except OSError as exc:
                    raise self._error(_os_problem(exc, "cannot create a file in %r" % folder)) from None
                self._temporary, self._fd = temporary, fd
            break
        else:  # pragma: no cover - 100 random names taken
            raise self._error("cannot create a temporary file in %r" % folder)
        try:
            _write_all(fd, _PLACEHOLDER)
            os.fsync(fd)
        except OSError as exc:
            raise self._error(_os_problem(exc, "cannot write in %r" % folder)) from None

    def publish(self, port, server=None):
        """Write *port* to the path, atomically; this process now owns the file.

        Args:
            port (int): the bound port, read from the listening socket.
            server (socketserver.BaseServer or None): the server that
                listens; its ``server_close()`` withdraws the file.

        Returns:
            bool: True when written; False when a Werkzeug <= 0.10 reloader
            worker, rebinding its predecessor's port, found its own user's
            file holding exactly that port and kept it as it is.

        Raises:
            PortFileError: the file could not be written, or something else
                was put at the path since the claim; the path is unchanged.
        """
        content = ("%d\n" % port).encode("ascii")
        try:
            found = self._inspect()
            if found.identity != self._found.identity:  # changed since the claim: never overwrite it
                raise self._error("%s since the claim; left alone" % found.describe())
            if (not self.withdraws and found.kind == "a port file" and found.port == port
                    and found.uid == _euid()):
                # A Werkzeug <= 0.10 reloader worker after a reload: its
                # predecessor's file is right as it is.
                self._finish(port, None)
                return False
            try:
                os.lseek(self._fd, 0, os.SEEK_SET)
                _write_all(self._fd, content)
                os.ftruncate(self._fd, len(content))
                os.fsync(self._fd)
                if found.kind == "nothing":
                    os.link(self._temporary, self.path)  # fails if anything appeared meanwhile
                else:
                    os.replace(self._temporary, self.path)  # the stale port file judged at the claim
            except FileExistsError:
                raise self._error("another process created the path since the claim; left alone") from None
            except OSError as exc:
                raise self._error(_os_problem(exc, "cannot write the port file")) from None
            if found.kind == "nothing":
                _unlink(self._temporary)  # the path keeps the file
            self._temporary = None
            written = os.fstat(self._fd)
        except BaseException:
            self.release()
            raise
        self._finish(port, (written.st_dev, written.st_ino))
        if server is not None and self.withdraws:
            close = server.server_close

            def server_close():
                try:
                    close()
                finally:
                    self.withdraw()

            server.server_close = server_close
        return True

    def _finish(self, port, published):
        _unlock_folder(self._folder_lock)
        self._folder_lock = None
        if published is None:
            self._close_temporary()
        with _state.changed:
            self.port, self._published = port, published
            _state.claim = self
            _state.changed.notify_all()

    def leave_to_workers(self, port):
        """Let reloader workers publish *port* (Werkzeug <= 0.10: each worker binds).

        The reloader parent keeps the claim and withdraws the file when it
        exits, if it still holds exactly *port* (the workers' file has
        another inode, so the content is what is checked).
        """
        self._close_temporary()
        _unlock_folder(self._folder_lock)
        self._folder_lock = None
        with _state.changed:
            self.expected = port
            _state.changed.notify_all()

    def release(self):
        """Give the claim up without publishing: remove the temporary file."""
        self._close_temporary()
        _unlock_folder(self._folder_lock)
        self._folder_lock = None
        with _state.changed:
            if _state.claim is self and self.in_progress():
                _state.claim = None
                _restore_signal_handlers()
            _state.changed.notify_all()

    def _close_temporary(self):
        fd, temporary = self._fd, self._temporary
        self._fd = self._temporary = None
        if fd is not None:
            os.close(fd)
        if temporary is not None:
            _unlink(temporary)

    def withdraw(self):
        """Remove the port file if it still is the one published here.

        Idempotent; never raises.  In another process (a fork) it does
        nothing; in a reloader worker it only removes its temporary file.
        """
        if os.getpid() != self.pid:
            return
        with _state.changed:
            published, expected, port = self._published, self.expected, self.port
            if self.withdraws:
                self._published = self.expected = None
                if _state.claim is self:
                    _state.claim = None
                _state.changed.notify_all()
        try:
            if self.withdraws and (published is not None or expected is not None):
                found = inspect(self.path)
                if found.kind == "a port file" and (
                        (published is not None and found.identity[:2] == published and found.port == port)
                        or (published is None and found.port == expected)):
                    os.unlink(self.path)
        except OSError:
            pass
        finally:
            if self.withdraws or self._temporary is not None:
                self._close_temporary()  # then the inode may be reused
            _unlock_folder(self._folder_lock)
            self._folder_lock = None
        if self.withdraws:
            _restore_signal_handlers()


def _euid():
    return os.geteuid() if hasattr(os, "geteuid") else None


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _lock_folder(folder, error):
    """Lock *folder* (``flock`` on it) against other processes' claims; the fd, or None.

    Two processes given the same path must not both judge a stale file and
    both replace it.  Where folders cannot be locked (no ``fcntl``, a file
    system without locks) the claim goes on without.

    Raises:
        PortFileError: another process held the lock for ``CLAIM_WAIT`` s.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None  # a missing folder is reported by the claim itself
    deadline = time.monotonic() + CLAIM_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise error("another process has been claiming a port file in %r for %g s" % (folder, CLAIM_WAIT))
            time.sleep(0.005)
        except OSError:  # no locks on this file system
            os.close(fd)
            return None


def _unlock_folder(fd):
    if fd is not None:
        os.close(fd)  # closing the last fd of the lock releases it


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _os_problem(exc, doing):
    return "%s: [Errno %s] %s" % (doing, exc.errno, exc.strerror or errno.errorcode.get(exc.errno, exc))


def _withdraw_at_exit():
    claim = _state.claim
    if claim is not None:
        claim.withdraw()


class _signals_held(object):
    """Hold SIGINT, SIGTERM and SIGHUP back in the block (main thread, where that exists).

    A Python handler runs between two bytecodes: between creating the
    temporary file and noting its name, it would leave the file behind.
    """

    def __enter__(self):
        self.mask = None
        if hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread():
            numbers = set(getattr(signal, name) for name in _SIGNALS if hasattr(signal, name))
            self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, numbers)

    def __exit__(self, *exc_info):
        if self.mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
        return False


def _on_signal(signum, frame):
    """Withdraw the port file, then end by the same signal, as SIG_DFL would have."""
    _withdraw_at_exit()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_exit_hooks():
    """An exit hook, and a handler for each signal still at SIG_DFL (main thread only)."""
    with _state.lock:
        if not _state.exit_hook:
            atexit.register(_withdraw_at_exit)
            _state.exit_hook = True
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal() works in the main thread only: the file goes at exit
    for name in _SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None or signum in _state.handlers:
            continue
        if signal.getsignal(signum) == signal.SIG_DFL:  # never replace a handler of the app's
            signal.signal(signum, _on_signal)
            _state.handlers[signum] = _on_signal


def _restore_signal_handlers():
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in list(_state.handlers):
        if signal.getsignal(signum) is _state.handlers.pop(signum):
            signal.signal(signum, signal.SIG_DFL)
