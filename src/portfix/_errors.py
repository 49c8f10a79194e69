"""The errors for a failed bind, and a message that names the holder and the remedy.

Werkzeug < 2.1 lets a busy port surface as a bare ``OSError: [Errno 98]
Address already in use`` from deep inside ``socketserver``, which says
neither who holds the port nor what to do (the traceback users met in
pallets/flask#2926, where ``port=0`` became 5000).  Werkzeug >= 2.1 prints
a hint and raises ``SystemExit(1)`` instead (pallets/werkzeug#2687, #2866),
which ``except OSError`` cannot catch.  ``PortInUseError`` is an ``OSError``
with the original errno, so existing handlers keep working, and its message
reads, for example::

    [Errno 98] Address already in use: 127.0.0.1:5000
      held by pid 4321: python3 -m http.server 5000 (on 0.0.0.0:5000)
      To fix: stop pid 4321; or pass port=0 to let the OS choose a free ephemeral port; or choose another port with --port / port=.

or, when another user's process holds it::

    [Errno 98] Address already in use: 127.0.0.1:5000
      held by another user's process: uid 4242 (on 0.0.0.0:5000); its pid is not visible, since the process belongs to another user
      To fix: pass port=0 to let the OS choose a free ephemeral port; or choose another port with --port / port=.
"""

import errno
import logging
import os
import sys

from ._text import escape


def _find_holders(host, port):
    # Imported when a bind failed, not when portfix is: it is never needed otherwise.
    from ._holder import find_holders

    return find_holders(host, port)

# How many processes the message lists, and how long a command line may get:
# the message is read in a terminal, next to a traceback.
_MAX_LISTED = 3
_MAX_CMDLINE = 200

# EADDRINUSE where the running platform's errno module cannot tell, so that
# messages for another platform can be checked here too.
_EADDRINUSE = (("linux", 98), ("darwin", 48), ("freebsd", 48), ("openbsd", 48), ("netbsd", 48), ("win32", 10048))
# WSAEADDRINUSE, and WSAEACCES, which Windows raises when another socket
# holds the port with SO_EXCLUSIVEADDRUSE or the port lies in an excluded
# range (Flask's docs list both for "address already in use").
_IN_USE_WINERRORS = (10048, 10013)
_WSAEACCES = 10013
_AIRPLAY_PORT = 5000

_log = logging.getLogger("portfix")


class BindError(OSError):
    """The development server could not bind its address.

    An ``OSError`` with the errno of the failure, so ``except OSError`` and
    ``e.errno`` checks keep working; raised ``from`` the original error.

    Args:
        errno_ (int): the original errno.
        message (str): the text shown after ``[Errno N]``.
        host (str or None): the host that was asked for.
        port (int or None): the port that was asked for.
    """

    def __init__(self, errno_, message, host=None, port=None):
        if errno_ is None:
            super().__init__(message)  # "[Errno None] ..." reads as a bug
        else:
            super().__init__(errno_, message)
        self.message = message
        self.host = host
        self.port = port

    def __reduce__(self):
        return (type(self), (self.errno, self.message, self.host, self.port))


class PortInUseError(BindError):
    """The address is already in use (EADDRINUSE, or Windows' WSAEACCES).

    Args:
        errno_, message, host, port: as ``BindError``.
        holders (list of Holder): who listens there, as ``find_holders``
            found them; possibly empty.
    """

    def __init__(self, errno_, message, host=None, port=None, holders=()):
        super().__init__(errno_, message, host, port)
        self.holders = list(holders)

    def __reduce__(self):
        return (type(self), (self.errno, self.message, self.host, self.port, self.holders))


class PortFileError(ValueError):
    """``PORTFIX_PORT_FILE`` cannot be used; raised before the server binds.

    A ``ValueError``: the setting, not the server, is at fault.  Nothing at
    the path was changed.

    Args:
        path (str): the port file's absolute path (as ``PORTFIX_PORT_FILE``
            was read).
        problem (str): what is wrong there, e.g. ``"a FIFO is there"``.

    Attributes:
        path (str), problem (str): as given.
    """

    def __init__(self, path, problem):
        super().__init__("PORTFIX_PORT_FILE=%r: %s" % (path, problem))
        self.path = path
        self.problem = problem

    def __reduce__(self):
        return (type(self), (self.path, self.problem))


def _platform_eaddrinuse(platform):
    for prefix, code in _EADDRINUSE:
        if platform.startswith(prefix):
            return code
    return None


def is_address_in_use(exc, platform=None):
    """Whether *exc* says that the address is already in use.

    Args:
        exc (BaseException): typically the ``OSError`` from ``bind()``.
        platform (str or None): a ``sys.platform`` value, default the
            running one; errno numbers differ between platforms.

    Returns:
        bool: True for EADDRINUSE (98 on Linux, 48 on macOS and the BSDs,
        10048 on Windows) and for ``winerror`` 10048 or 10013; False for
        anything else, e.g. EACCES for a privileged port on Linux, or an
        exception without an errno.
    """
    if getattr(exc, "winerror", None) in _IN_USE_WINERRORS:
        return True
    code = getattr(exc, "errno", None)
    if not isinstance(code, int):
        return False
    if platform is None or platform == sys.platform:
        if code == errno.EADDRINUSE:
            return True
        platform = sys.platform
    return code == _platform_eaddrinuse(platform)


def _endpoint(host, port):
    # The host is the caller's, an address may be lsof's or ss's text:
    # escaped like everything else from outside that reaches the message.
    if not host or host == "*":
        return "*:%s" % (port,)
    host = escape(host) if isinstance(host, str) else escape(repr(host))
    if ":" in host and not host.startswith("["):
        return "[%s]:%s" % (host, port)
    return "%s:%s" % (host, port)


def _user(uid):
    """``uid 1000 (alice)``, or ``uid 4242`` for a uid without a name."""
    try:
        import pwd  # not on Windows

        return "uid %d (%s)" % (uid, escape(pwd.getpwuid(uid).pw_name))
    except (ImportError, KeyError, OverflowError, TypeError):
        return "uid %s" % (uid,)


def _shown(cmdline):
    """*cmdline* as the message shows it: escaped (``_text.escape``), then shortened.

    A command line is another process's text: printed raw, an escape
    sequence in an argument could retitle the terminal, erase lines, or a
    newline forge a "To fix:" line under portfix's name.
    """
    cmdline = escape(cmdline)
    if len(cmdline) <= _MAX_CMDLINE:
        return cmdline
    return cmdline[: _MAX_CMDLINE - 3] + "..."


def _holder_lines(holders, euid):
    """One line per process (its addresses together), or per uid when the pid is unknown."""
    groups = []  # [key, first holder, addresses]
    for holder in holders:
        key = ("pid", holder.pid) if holder.pid is not None else ("uid", holder.uid)
        address = _endpoint(holder.address, holder.port)
        for group in groups:
            if group[0] == key:
                if address not in group[2]:
                    group[2].append(address)
                break
        else:
            groups.append([key, holder, [address]])
    lines = []
    for _, holder, addresses in groups[:_MAX_LISTED]:
        where = "on " + ", ".join(addresses)
        if holder.pid is not None:
            command = _shown(holder.cmdline) if holder.cmdline else "command line not readable"
            itself = " (this process)" if holder.pid == os.getpid() else ""
            lines.append("held by pid %d%s: %s (%s)" % (holder.pid, itself, command, where))
        elif holder.uid is None:
            lines.append("held by a process whose pid and owner are not visible (%s)" % (where,))
        elif euid is None or holder.uid != euid:
            # Without root, /proc/<pid>/fd of another user cannot be read;
            # psutil, lsof and ss -p see no more.
            lines.append(
                "held by another user's process: %s (%s); its pid is not visible, "
                "since the process belongs to another user" % (_user(holder.uid), where)
            )
        else:
            lines.append(
                "held by a process of %s (%s) whose pid was not found: the lookup ran out of time, "
                "or the process runs in another PID namespace (a container)" % (_user(holder.uid), where)
            )
    if len(groups) > _MAX_LISTED:
        lines.append("and %d more" % (len(groups) - _MAX_LISTED))
    return lines


def port_in_use_message(host, port, holders, platform=None, winerror=None, euid=None):
    """The text of a ``PortInUseError``, without the leading ``[Errno N]``.

    Args:
        host (str or None): the host asked for.
        port (int): the port asked for.
        holders (list of Holder): from ``find_holders``.
        platform (str or None): a ``sys.platform`` value, default the
            running one; ``"darwin"`` with port 5000 adds the AirPlay hint.
        winerror (int or None): the original error's ``winerror``; 10013
            adds the hint about Windows' excluded port ranges.
        euid (int or None): our effective uid, default ``os.geteuid()``
            where there is one; a holder of another uid is another user's.

    Returns:
        str: a few lines, the first one ``Address already in use: host:port``.
    """
    if platform is None:
        platform = sys.platform
    if euid is None and hasattr(os, "geteuid"):
        euid = os.geteuid()
    lines = ["Address already in use: %s" % _endpoint(host, port)]
    lines.extend("  " + line for line in _holder_lines(holders, euid))
    if not holders:
        lines.append("  the process that holds it was not found")
    if platform == "darwin" and port == _AIRPLAY_PORT:
        # macOS 12 (Monterey) and later: ControlCenter listens on 5000.
        lines.append(
            "  on macOS, AirPlay Receiver listens on port 5000: turn it off in "
            "System Settings > General > AirDrop & Handoff, or use another port"
        )
    if winerror == _WSAEACCES:
        lines.append(
            "  Windows also refuses ports in its excluded ranges: "
            "netsh interface ipv4 show excludedportrange protocol=tcp"
        )
    remedies = ["pass port=0 to let the OS choose a free ephemeral port", "choose another port with --port / port="]
    pids = sorted({holder.pid for holder in holders if holder.pid is not None})
    if pids:
        remedies.insert(0, "stop pid %s" % ", ".join(str(pid) for pid in pids[:_MAX_LISTED]))
    lines.append("  To fix: " + "; or ".join(remedies) + ".")
    return "\n".join(lines)


def port_in_use_error(exc, host, port, lookup=_find_holders, platform=None):
    """Build the ``PortInUseError`` for *exc*; the caller raises it ``from exc``.

    Args:
        exc (OSError): the address-in-use error from ``bind()``.
        host (str or None): the host asked for.
        port (int): the port asked for.
        lookup (callable): ``lookup(host, port)`` -> list of Holder; tests
            pass a fake.  An exception from it is ignored, as if it had
            found nothing: the bind error must still be reported.
        platform (str or None): a ``sys.platform`` value, as in
            ``port_in_use_message``.

    Returns:
        PortInUseError: with *exc*'s errno (EADDRINUSE when it has none),
        host, port and the holders found.
    """
    try:
        holders = list(lookup(host, port))
    except Exception:
        _log.debug("portfix: holder lookup failed", exc_info=True)
        holders = []
    code = getattr(exc, "errno", None)
    if code is None:
        code = errno.EADDRINUSE
    message = port_in_use_message(host, port, holders, platform, getattr(exc, "winerror", None))
    return PortInUseError(code, message, host, port, holders)


def bind_error(exc, host, port, lookup=_find_holders, platform=None):
    """The error ``portfix.serve()`` raises ``from exc`` when ``bind()`` failed.

    Args:
        exc (OSError): the error from ``bind()``.
        host, port, lookup, platform: as ``port_in_use_error``.

    Returns:
        BindError: a ``PortInUseError`` when ``is_address_in_use(exc)``;
        else a plain ``BindError`` with *exc*'s errno and text and the
        address.
    """
    if is_address_in_use(exc, platform):
        return port_in_use_error(exc, host, port, lookup, platform)
    reason = getattr(exc, "strerror", None) or str(exc)
    return BindError(getattr(exc, "errno", None), "cannot bind %s: %s" % (_endpoint(host, port), reason), host, port)


def diagnosed(exc, host, port):
    """The ``PortInUseError`` a patch raises ``from exc``, or None to re-raise *exc*.

    None when *exc* is not an address-in-use error, or is a
    ``PortInUseError`` already (an inner patch diagnosed it).
    """
    if isinstance(exc, PortInUseError) or not is_address_in_use(exc):
        return None
    return port_in_use_error(exc, host, port)
