"""Who holds a listening TCP port: pid, command line and uid, without root.

``find_holders(host, port)`` asks the sources below in turn; the first one
that can answer at all gives the answer, even an empty one:

1. ``proc``: Linux's ``/proc/net/tcp`` and ``/proc/net/tcp6`` (the rows in
   state ``0A``, LISTEN, give address, port, uid and socket inode), then the
   ``socket:[<inode>]`` links among ``/proc/<pid>/fd/*``.  Another user's
   ``fd`` directory cannot be read without root, so such a listener is
   reported with its uid and ``pid=None``.
2. ``psutil``, when it is importable (it is optional, never required).
3. ``lsof``, then ``ss``: subprocesses, for systems without ``/proc``
   (macOS, the BSDs).  ``lsof`` and ``ss -p`` see no more than ``/proc``
   without root.

The lookup never raises and never runs longer than its *timeout*: it is
called while reporting a failed bind, where a second error or a hang would
hide the first one.  It never names a process it could not confirm at its
end: sockets and processes come and go while it reads (``_from_proc``,
``_confirmed``).
"""

import collections
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import time

_log = logging.getLogger("portfix")

Holder = collections.namedtuple("Holder", "pid cmdline uid address port source")
Holder.__doc__ = """A process that listens on the port asked about.

Fields:
    pid (int or None): None when the socket is visible but its process is
        not (another user's process, without root).
    cmdline (str or None): the command line, its arguments quoted as a
        POSIX shell would need them (``shlex.quote``).  It is the other
        process's raw text, for code to use: it can hold any character,
        escape sequences and newlines too, so pass it through
        ``portfix._text.escape()`` before it reaches a terminal or a
        message (``PortInUseError`` does).  ``lsof`` and ``ss`` give only
        the program name when the full command line cannot be read.  None
        with no pid, or when it cannot be read (a zombie, a kernel thread).
    uid (int or None): the owner of the socket; None when the source does
        not tell.
    address (str): the local address listened on, e.g. ``"127.0.0.1"``,
        ``"::"``, ``"::ffff:127.0.0.1"``; ``"*"`` for lsof's and ss's
        wildcard of unknown family.
    port (int): the port listened on.
    source (str): ``"proc"``, ``"psutil"``, ``"lsof"`` or ``"ss"``.
"""

SOURCES = ("proc", "psutil", "lsof", "ss")
DEFAULT_TIMEOUT = 0.2  # seconds; a failed bind must be reported promptly

_LISTEN = "0A"  # TCP_LISTEN in include/net/tcp_states.h, as /proc/net/tcp prints it
_LISTENING_SECTION = (_LISTEN, "03")  # and TCP_SYN_RECV, see _listening_rows
_READ_SIZE = 65536  # bytes per read of /proc/net/tcp; the deadline is checked between reads
_CONFIRM_SHARE = 0.25  # of the time left, kept for confirming what the scan found (see _from_proc)
_PASSES = 3  # lookups of listeners that appeared meanwhile, at most (see _from_proc)
_LOCALHOST = frozenset([socket.inet_aton("127.0.0.1"), b"\0" * 15 + b"\1"])
_ANY4 = b"\0" * 4
_ANY6 = b"\0" * 16
_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"  # ::ffff:a.b.c.d


class _Unavailable(Exception):
    """This source cannot answer here; the next one is asked."""


def find_holders(host, port, timeout=DEFAULT_TIMEOUT, proc="/proc", sources=SOURCES):
    """Return the processes listening on TCP *port* in a way that conflicts with *host*.

    Args:
        host (str or None): the address that failed to bind: an IPv4 or
            IPv6 literal (brackets and a ``%scope`` are allowed), ``""`` or
            None (all interfaces), ``"localhost"`` (127.0.0.1 and ::1), or
            another host name.  Names are never resolved, since DNS can be
            slow: for a host name other than localhost, every listener on
            *port* is returned.
        port (int): the TCP port, 1-65535.
        timeout (float): seconds the whole lookup may take; when they are
            spent, what was found so far is returned.
        proc (str): where procfs is mounted; tests pass a fake tree.
        sources (sequence of str): the sources to ask, in order, from
            ``SOURCES``.

    Returns:
        list of Holder: one per process and address listened on, in the
        order the source gave them; empty when nothing was found or nothing
        could be asked.  A listener counts
        when it has the same port and the same address, or either side is
        a wildcard (``0.0.0.0``, ``::``).  An IPv6 ``::`` listener counts
        for IPv4 hosts too: it is dual stack unless IPV6_V6ONLY is set,
        which none of the sources tells.

    Never raises (errors are logged at debug level on the ``portfix``
    logger).
    """
    try:
        deadline = time.monotonic() + timeout
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            _log.debug("portfix: no holder lookup for port %r", port)
            return []
        wanted = _wanted_addresses(host)
        for name in sources:
            if time.monotonic() >= deadline:
                _log.debug("portfix: holder lookup ran out of time before %s", name)
                break
            try:
                return _unique(_SOURCE_FUNCTIONS[name](port, wanted, proc, deadline))
            except _Unavailable as exc:
                _log.debug("portfix: holder lookup: %s unavailable: %s", name, exc)
            except Exception:
                _log.debug("portfix: holder lookup: %s failed", name, exc_info=True)
    except Exception:
        _log.debug("portfix: holder lookup failed", exc_info=True)
    return []


def _unique(holders):
    """*holders* without repeats, in order.

    Every source can list one holder twice: the kernel may hand a
    /proc/net/tcp row out twice (see _listening_rows), and psutil and lsof
    read it too; lsof also lists a socket once per file descriptor.
    """
    kept = []
    for holder in holders:
        if holder not in kept:
            kept.append(holder)
    return kept


def decode_address(hex_text, byteorder=sys.byteorder):
    """Decode a local or remote address of ``/proc/net/tcp{,6}``.

    Args:
        hex_text (str): 8 hex digits (IPv4) or 32 (IPv6), as in
            ``0100007F`` for 127.0.0.1.
        byteorder (str): the byte order of the kernel that wrote the row,
            ``"little"`` or ``"big"``.

    Returns:
        str: the address as text, e.g. ``"127.0.0.1"``, ``"::1"``,
        ``"::ffff:127.0.0.1"``.

    Raises:
        ValueError: not 8 or 32 hex digits.

    The kernel prints each 32-bit word of the address (which is in network
    byte order in memory) as a host-order integer: on little-endian
    machines every group of 8 digits reads byte-reversed.
    """
    return _address_text(_decode_packed(hex_text, byteorder))


def _decode_packed(hex_text, byteorder):
    if len(hex_text) not in (8, 32):
        raise ValueError("not an address from /proc/net/tcp: %r" % (hex_text,))
    return b"".join(int(hex_text[i:i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(hex_text), 8))


def _address_text(packed):
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


def _packed(text):
    """The address *text* as bytes, IPv4-mapped IPv6 as IPv4; None for a non-literal."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.partition("%")[0]  # fe80::1%eth0: the scope does not matter here
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):
            continue
        if len(packed) == 16 and packed.startswith(_MAPPED_PREFIX):
            return packed[12:]
        return packed
    return None


def _wanted_addresses(host):
    """The set of addresses *host* binds, as _packed gives them; None for "any listener"."""
    if host is None or not isinstance(host, str):
        return None
    host = host.strip()
    if host in ("", "*"):
        return None
    if host.lower() == "localhost":
        return _LOCALHOST
    packed = _packed(host)
    if packed is None or packed in (_ANY4, _ANY6):
        return None  # a host name (never resolved) or a wildcard: any address conflicts
    return frozenset([packed])


def _conflicts(wanted, packed):
    """Whether a listener on *packed* (None: a wildcard of unknown family) blocks *wanted*."""
    if wanted is None or packed is None or packed in (_ANY4, _ANY6):
        return True
    if len(packed) == 16 and packed.startswith(_MAPPED_PREFIX):
        packed = packed[12:]
    return packed in wanted


def _join_cmdline(args):
    args = [arg for arg in args if arg is not None]
    if not args:
        return None
    return " ".join(shlex.quote(arg) for arg in args)


def _read_cmdline(proc, pid):
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # NUL-terminated arguments; a process may also have rewritten it as one
    # space-separated string (setproctitle), which then stays one argument.
    args = [os.fsdecode(arg) for arg in raw.split(b"\0")]
    while args and args[-1] == "":
        args.pop()
    return _join_cmdline(args)


def _remaining(deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _Unavailable("no time left")
    return remaining


# --- source 1: /proc ---------------------------------------------------------


def _listening_rows(path, deadline):
    """The rows of a /proc/net/tcp table up to the end of its listening section, split.

    ``_read_listening`` without the flag that says whether the read ended
    at the deadline.
    """
    return _read_listening(path, deadline)[0]


def _read_listening(path, deadline):
    """The rows of a /proc/net/tcp table up to the end of its listening section, split.

    The kernel lists the listening hash before the established one
    (``tcp_get_idx()`` in net/ipv4/tcp_ipv4.c, for tcp6 too), so the first
    row in another state ends the listeners; kernels before 4.4 list
    SYN_RECV requests (``03``) with their listener.  Stopping there matters:
    a host that just served many short connections has tens of thousands
    of TIME_WAIT rows (22,000 took 150-480 ms to read here).  The table is
    read in chunks, the deadline checked between them.

    A row can come twice.  The kernel hands out about one page per read
    and resumes the walk of its hash by position, so a socket bound or
    closed between two reads shifts a row across the page boundary
    (measured: 183 of 795 reads of a 200-listener tcp6 table repeated a row
    while two threads bound and closed listeners).  Rows are kept once per
    socket inode; inode 0 (no socket any more) rows are all kept.  For the
    same reason a row can be missed, and every row is only true at the
    moment its page was read: _from_proc confirms what it reports.

    Returns:
        (list of list of str, bool): the rows, and True when the listening
        section was read to its end (False: the deadline cut it short).

    Raises:
        OSError: the table cannot be read.
    """
    rows = []
    seen = set()  # socket inodes
    fd = os.open(path, os.O_RDONLY)
    try:
        pending = ""
        first = True
        while True:
            chunk = os.read(fd, _READ_SIZE).decode("ascii", "replace")
            lines = (pending + chunk).split("\n")
            pending = lines.pop() if chunk else ""
            for line in lines:
                fields = line.split()
                if not fields:
                    continue
                if first:  # the header
                    first = False
                    continue
                if len(fields) > 3 and fields[3] not in _LISTENING_SECTION:
                    return rows, True
                if len(fields) > 9 and fields[9] != "0":
                    if fields[9] in seen:
                        continue
                    seen.add(fields[9])
                rows.append(fields)
            if not chunk:
                return rows, True
            if time.monotonic() >= deadline:
                _log.debug("portfix: holder lookup ran out of time reading %s", path)
                return rows, False
    finally:
        os.close(fd)


def _proc_listeners(proc, port, wanted, deadline):
    """The sockets of /proc/net/tcp{,6} listening on *port* where *wanted* conflicts.

    Returns:
        (list, bool): ``(inode, address text, uid)`` per listening socket,
        in table order, once per inode (inode ``"0"``, a socket without an
        inode, each time); and True when both tables were read to the end
        of their listening sections.

    Raises:
        _Unavailable: neither table can be read.
    """
    suffix = ":%04X" % port
    listeners = []
    readable = False
    complete = True
    for table in ("tcp", "tcp6"):
        try:
            rows, whole = _read_listening(os.path.join(proc, "net", table), deadline)
        except OSError as exc:
            _log.debug("portfix: cannot read %s: %s", table, exc)
            continue
        readable = True
        complete = complete and whole
        for fields in rows:
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
            if len(fields) < 10 or fields[3] != _LISTEN or not fields[1].endswith(suffix):
                continue
            try:
                packed = _decode_packed(fields[1][: -len(suffix)], sys.byteorder)
                uid = int(fields[7])
            except ValueError:
                _log.debug("portfix: skipped a malformed %s row: %r", table, fields)
                continue
            if _conflicts(wanted, packed):
                listeners.append((fields[9], _address_text(packed), uid))
    if not readable:
        raise _Unavailable("no %s/net/tcp" % proc)
    return listeners, complete


def _pids_by_inode(proc, inodes, deadline):
    """Map each socket inode in *inodes* to the processes that have it open.

    Returns:
        dict: inode -> list of ``(pid, fd link path)``, one per process (the
        first of its fds found), for the inodes found.

    Processes whose fd directory cannot be read (another user's, without
    root) or that exit meanwhile are skipped; at the deadline, what was
    found so far is returned.  Processes with fewer open files are read
    first: listing an fd directory is cheap, a readlink per fd is what
    costs, and a development server has a few fds where a browser or an
    IDE has thousands.  Within the deadline, the most processes get read.
    """
    links = {"socket:[%s]" % inode: inode for inode in inodes if inode != "0"}
    found = {}
    if not links:
        return found
    try:
        entries = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError as exc:
        _log.debug("portfix: cannot list %s: %s", proc, exc)
        return found
    fd_lists = []  # (number of fds, pid, fd directory, fds)
    for entry in entries:
        if time.monotonic() >= deadline:
            break
        fd_dir = os.path.join(proc, entry, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        fd_lists.append((len(fds), int(entry), fd_dir, fds))
    fd_lists.sort()
    for _, pid, fd_dir, fds in fd_lists:
        for fd in fds:
            if time.monotonic() >= deadline:  # per fd: a clock read costs far less than a readlink
                _log.debug("portfix: holder lookup ran out of time in the fd scan at pid %d", pid)
                return found
            path = os.path.join(fd_dir, fd)
            try:
                link = os.readlink(path)
            except OSError:
                continue
            inode = links.get(link)
            if inode is not None:
                owners = found.setdefault(inode, [])
                if all(owner != pid for owner, _ in owners):
                    owners.append((pid, path))
    return found


def _still_open(path, inode):
    """Whether the fd link *path* still names socket *inode*."""
    try:
        return os.readlink(path) == "socket:[%s]" % inode
    except OSError:  # the fd was closed, or the process exited
        return False


def _from_proc(port, wanted, proc, deadline):
    """Holders from /proc, each one confirmed at the end of the lookup.

    What the tables and fd directories say is only true at the moment each
    was read, and a lookup takes milliseconds while sockets come and go:
    a listener read at the start may stop listening while its process keeps
    the socket open (``shutdown()``), and another process bind the port;
    a process forked by a holder has the socket until it execs, and its
    command line read after the exec is another program's; a pid that
    exits can be reused (``pid_max`` is 32768 on many systems).  So after
    the scan, for every process found: its command line is read, then its
    fd is read again and must still be that socket; then the tables are
    read again and the socket must still listen on the port.  What fails
    is dropped: a socket no longer listening is not reported, a process
    that no longer has it is not named (the socket, still listening, is
    reported with ``pid=None`` when no process is left).  When the second
    read shows listeners the first did not (the port was bound again),
    they are looked up in the same way, a few times at most.  A quarter of
    the time left is kept for these checks.
    """
    scan_deadline = time.monotonic() + max(0.0, deadline - time.monotonic()) * (1 - _CONFIRM_SHARE)
    listeners, _ = _proc_listeners(proc, port, wanted, scan_deadline)
    owners = {}  # inode -> [(pid, fd link path)] still confirmed; [] when looked up and not found
    cmdlines = {}
    for _ in range(_PASSES):
        new = [inode for inode, _, _ in listeners if inode != "0" and inode not in owners]
        if new:
            found = _pids_by_inode(proc, new, scan_deadline)
            for inode in new:
                owners[inode] = found.get(inode, [])
        for inode, processes in owners.items():
            kept = []
            for pid, path in processes:
                # The command line first, the fd after: a process kept here
                # had the socket open after its command line was read.
                cmdlines[pid] = _read_cmdline(proc, pid)
                if _still_open(path, inode):
                    kept.append((pid, path))
            owners[inode] = kept
        again, complete = _proc_listeners(proc, port, wanted, deadline)
        before = set(inode for inode, _, _ in listeners)
        now = set(inode for inode, _, _ in again)
        if not complete:
            # Cut short by the deadline: a socket not reached is not known
            # to be gone, nor its process to hold it.
            for inode, address, uid in listeners:
                if inode not in now:
                    again.append((inode, address, uid))
                    owners[inode] = []
        listeners = again
        if now <= before or not complete or time.monotonic() >= scan_deadline:
            break
    holders = []
    for inode, address, uid in listeners:
        for pid, _ in owners.get(inode) or [(None, None)]:
            holders.append(Holder(pid, None if pid is None else cmdlines.get(pid), uid, address, port, "proc"))
    return holders


# --- source 2: psutil --------------------------------------------------------


def _from_psutil(port, wanted, proc, deadline):
    try:
        import psutil
    except ImportError:
        raise _Unavailable("psutil is not installed") from None

    def listing(pids):
        found = []  # (pid, None, None, address)
        # Raises AccessDenied on macOS without root: the next source is asked.
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr[1] != port:
                continue
            if _conflicts(wanted, _packed(conn.laddr[0])):
                found.append((conn.pid, None, None, conn.laddr[0]))
        return found

    found = []
    details = {}  # pid -> (command line, uid)
    for pid, _, _, address in listing(None):
        if pid is not None and pid not in details and time.monotonic() < deadline:
            cmdline = uid = None
            try:
                process = psutil.Process(pid)
                cmdline = _join_cmdline(process.cmdline())
                uid = process.uids().real  # no uids() on Windows
            except Exception as exc:
                _log.debug("portfix: psutil on pid %s: %r", pid, exc)
            details[pid] = (cmdline, uid)
        cmdline, uid = details.get(pid, (None, None))
        found.append((pid, cmdline, uid, address))
    return _confirmed(found, {}, listing, deadline, port, "psutil")


# --- sources 3 and 4: lsof, ss -----------------------------------------------


def _run(argv, deadline):
    """stdout of *argv*, killed at the deadline; _Unavailable when it cannot run."""
    try:
        result = subprocess.run(
            argv,
            check=False,  # lsof exits 1 when it finds nothing
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=_remaining(deadline),
            universal_newlines=True,
            env=dict(os.environ, LC_ALL="C"),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise _Unavailable("%s: %r" % (argv[0], exc)) from None
    return result.stdout


def _split_endpoint(text):
    """``"127.0.0.1:5000"``, ``"[::1]:5000"``, ``"*:5000"`` -> (address text, packed or None, port)."""
    address, _, port_text = text.rpartition(":")
    address = address.strip("[]").partition("%")[0]  # ss: 127.0.0.1%lo, [fe80::1]%eth0
    if address in ("", "*"):
        return "*", None, int(port_text)
    packed = _packed(address)
    return address, packed, int(port_text)


def _ps_cmdlines(pids, proc, deadline):
    """Full command lines for *pids*: from procfs when it is there, else one ``ps`` call."""
    cmdlines = {}
    for pid in pids:
        cmdline = _read_cmdline(proc, pid)
        if cmdline is not None:
            cmdlines[pid] = cmdline
    missing = [pid for pid in pids if pid not in cmdlines]
    if missing:
        try:
            output = _run(["ps", "-ww", "-o", "pid=", "-o", "command=", "-p", ",".join(map(str, missing))], deadline)
        except _Unavailable as exc:
            _log.debug("portfix: no command lines from ps: %s", exc)
            return cmdlines
        for line in output.splitlines():
            pid_text, _, command = line.strip().partition(" ")
            if pid_text.isdigit() and command.strip():
                # ps prints the arguments already joined; they cannot be re-quoted.
                cmdlines[int(pid_text)] = command.strip()
    return cmdlines


def _from_lsof(port, wanted, proc, deadline):
    def listing(pids):
        # -F: one field per line, keyed by its first character: p pid, c
        # command, u uid, f fd, n name ("127.0.0.1:5000", "[::1]:5000",
        # "*:5000").  With pids, -a: only those processes' sockets.
        argv = ["lsof", "-nP", "+c", "0", "-iTCP:%d" % port, "-sTCP:LISTEN", "-Fpcufn"]
        if pids is not None:
            argv[1:1] = ["-a", "-p", ",".join(str(pid) for pid in pids)]
        found = []  # (pid, command, uid, address)
        pid = command = uid = None
        for line in _run(argv, deadline).splitlines():
            key, value = line[:1], line[1:]
            if key == "p":
                pid, command, uid = int(value), None, None
            elif key == "c":
                command = value
            elif key == "u":
                uid = int(value) if value.isdigit() else None
            elif key == "n" and pid is not None:
                address, packed, listen_port = _split_endpoint(value.partition("->")[0])
                if listen_port == port and _conflicts(wanted, packed):
                    found.append((pid, command, uid, address))
        return found

    return _with_cmdlines(listing(None), listing, port, proc, deadline, "lsof")


_SS_PROCESS = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+)')
_SS_UID = re.compile(r"\buid:(\d+)")


def _from_ss(port, wanted, proc, deadline):
    def listing(pids):
        # -e adds "uid:N"; -p adds users:(("name",pid=N,fd=N),...) for the
        # processes we may see.  *pids* is not used: ss filters by port only.
        found = []
        for line in _run(["ss", "-ltnpe", "sport", "=", ":%d" % port], deadline).splitlines():
            fields = line.split()
            if len(fields) < 5 or fields[0] != "LISTEN":
                continue  # the header
            address, packed, listen_port = _split_endpoint(fields[3])
            if listen_port != port or not _conflicts(wanted, packed):
                continue
            uid_match = _SS_UID.search(line)
            if uid_match:
                uid = int(uid_match.group(1))
            else:
                # ss -e leaves out "uid:0" (it prints a uid only when it is
                # not 0) but always prints "ino:"; without it, -e was not honoured.
                uid = 0 if " ino:" in line else None
            processes = _SS_PROCESS.findall(line) or [(None, None)]
            for command, pid_text in processes:
                found.append((int(pid_text) if pid_text else None, command, uid, address))
        return found

    return _with_cmdlines(listing(None), listing, port, proc, deadline, "ss")


def _with_cmdlines(found, listing, port, proc, deadline, source):
    """Holders for *found* (``(pid, command, uid, address)`` tuples from
    *listing*), with their full command lines, confirmed by *listing* again."""
    pids = sorted({pid for pid, _, _, _ in found if pid is not None})
    cmdlines = _ps_cmdlines(pids, proc, deadline) if pids else {}
    return _confirmed(found, cmdlines, listing, deadline, port, source)


def _confirmed(found, cmdlines, listing, deadline, port, source):
    """Holders for *found*, each one confirmed by a second *listing*.

    The command lines were read after *found* was listed, and a process
    may have exited (its pid reused: ``pid_max`` is 32768 on many systems)
    or exec'd another program meanwhile, and a listener may have closed.
    ``listing(pids)`` (the pids found, or None for every process) is run
    once more after the command lines were read: a process is named only
    when it still listens on the same address then.  When the second
    listing cannot be made in time, no process is named: each listener is
    reported with its address and uid, ``pid=None``.

    Args:
        found (list): ``(pid, command, uid, address)`` from the first listing.
        cmdlines (dict): pid -> full command line, replacing *command*.
        listing (callable): ``listing(pids)`` -> the same kind of list.
    """
    pids = sorted({pid for pid, _, _, _ in found if pid is not None})
    try:
        again = set((pid, address) for pid, _, _, address in listing(pids or None)) if time.monotonic() < deadline else None
    except _Unavailable as exc:
        _log.debug("portfix: holder lookup: %s could not confirm: %s", source, exc)
        again = None
    holders = []
    for pid, command, uid, address in found:
        if again is None:
            holders.append(Holder(None, None, uid, address, port, source))
        elif (pid, address) in again:
            holders.append(Holder(pid, cmdlines.get(pid, command) if pid is not None else None, uid, address, port, source))
    return holders


_SOURCE_FUNCTIONS = {"proc": _from_proc, "psutil": _from_psutil, "lsof": _from_lsof, "ss": _from_ss}
