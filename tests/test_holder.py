"""find_holders: who listens on a port, with real sockets on loopback and a simulated /proc."""

import collections
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import sys
import textwrap
import threading
import time
import types

import pytest
from _holding import (
    MARKER,
    SRC,
    START_TIMEOUT,
    Holding,
    fake_proc,
    hold_script,
    tcp_row,
    to_hex,
    unprivileged_python,
)

from _support import ipv6_loopback
from portfix import _holder
from portfix._holder import Holder, decode_address, find_holders
from portfix._process import Child

# Cell-independent: the holder lookup reads /proc, lsof, ss or psutil about plain sockets and
# children that import neither Flask nor Werkzeug.
pytestmark = pytest.mark.cell_independent


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
needs_proc = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="no /proc/net/tcp (not Linux)")


@pytest.fixture
def hold(tmp_path):
    """``with hold(host) as (child, port):``; ``hold.script`` is the holder's script."""

    def start(host):
        return Holding(tmp_path, host)

    start.script = hold_script(tmp_path)
    return start


def pids_of(holders):
    return [holder.pid for holder in holders]


# --- decoding /proc/net/tcp{,6} ---------------------------------------------

# Rows read from this machine's /proc/net/tcp and tcp6 (x86_64, little-endian).
REAL_ROWS = [
    (("   1: 0100007F:BDE1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 468883 1 "
      "00000000078daeab 100 0 0 10 0"), "127.0.0.1", 48609),
    (("   0: 00000000000000000000000001000000:BA09 00000000000000000000000000000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000     0        0 468880 1 00000000b9011724 100 0 0 10 0"), "::1", 47625),
    (("   1: 0000000000000000FFFF00000100007F:D96F 00000000000000000000000000000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000     0        0 468881 1 0000000051cbc7d7 100 0 0 10 0"), "::ffff:127.0.0.1", 55663),
    (("   2: 00000000000000000000000000000000:83E1 00000000000000000000000000000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000     0        0 468882 1 000000001024c8d1 100 0 0 10 0"), "::", 33761),
]


@pytest.mark.parametrize("row, address, port", REAL_ROWS, ids=["ipv4", "ipv6", "ipv4-mapped", "ipv6-any"])
def test_decode_real_rows(row, address, port):
    local = row.split()[1]
    hex_address, _, hex_port = local.partition(":")
    assert decode_address(hex_address, "little") == address
    assert int(hex_port, 16) == port


@pytest.mark.parametrize(
    "hex_address, address",
    [
        ("7F000001", "127.0.0.1"),
        ("00000000000000000000000000000001", "::1"),
        ("00000000000000000000FFFF7F000001", "::ffff:127.0.0.1"),
        ("20010DB8000000000000000000000042", "2001:db8::42"),
    ],
)
def test_decode_big_endian(hex_address, address):
    assert decode_address(hex_address, "big") == address


def test_decode_rejects_other_lengths():
    with pytest.raises(ValueError):
        decode_address("0100007F00")


@needs_proc
@pytest.mark.parametrize(
    "family, bind_to, expected",
    [
        (socket.AF_INET, "127.0.0.1", "127.0.0.1"),
        pytest.param(socket.AF_INET6, "::1", "::1", marks=needs_ipv6),
        pytest.param(socket.AF_INET6, "::ffff:127.0.0.1", "::ffff:127.0.0.1", marks=needs_ipv6),
    ],
)
def test_decode_matches_this_kernel(family, bind_to, expected):
    """Each live row of a socket we bind decodes to the address we bound."""
    with socket.socket(family) as sock:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((bind_to, 0))
        sock.listen(1)
        inode = str(os.fstat(sock.fileno()).st_ino)
        table = "/proc/net/tcp6" if family == socket.AF_INET6 else "/proc/net/tcp"
        with open(table) as f:
            rows = [line.split() for line in f.readlines()[1:]]
        # One socket, though a plain read may repeat its row (under another
        # "sl" number: see _listening_rows).
        (row,) = set(tuple(["sl"] + fields[1:]) for fields in rows if fields[9] == inode)
        hex_address, _, hex_port = row[1].partition(":")
        assert decode_address(hex_address) == expected
        assert int(hex_port, 16) == sock.getsockname()[1]
        assert row[3] == "0A"
        assert int(row[7]) == os.geteuid()


@needs_proc
def test_listeners_come_before_connections_in_this_kernel(hold):
    """find_holders stops reading at the first connection row: check that no listener follows one."""
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client.connect(server.getsockname())
        accepted, _ = server.accept()
        with accepted, hold("127.0.0.1") as (child, port):  # a listener born after the connection
            with open("/proc/net/tcp") as f:
                every = [line.split() for line in f.readlines()[1:]]
            early = _holder._listening_rows("/proc/net/tcp", time.monotonic() + 10)
            assert all(row[3] in ("0A", "03") for row in early)
            ours = (":%04X" % server.getsockname()[1], ":%04X" % port)
            # Other processes come and go: compare our own sockets, as sets,
            # since a plain read may repeat a row (see _listening_rows).
            for suffix in ours:
                assert set(row[9] for row in every if row[3] == "0A" and row[1].endswith(suffix)) == set(
                    row[9] for row in early if row[1].endswith(suffix)
                )
            assert any(row[3] == "01" for row in every)  # our connection
            assert len(early) < len(every)
            assert pids_of(find_holders("127.0.0.1", port, timeout=5.0)) == [child.pid]


# --- real holders, same user ---------------------------------------------------


@needs_proc
@pytest.mark.parametrize(
    "listen_on, ask_for, found",
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("0.0.0.0", "127.0.0.1", True),  # a wildcard listener blocks every address
        ("127.0.0.1", "0.0.0.0", True),  # and a wildcard request is blocked by every listener
        ("127.0.0.1", "", True),
        ("127.0.0.1", "localhost", True),
        ("127.0.0.1", "portfix-no-such-host.invalid", True),  # names are not resolved: port alone
        ("127.0.0.1", "127.0.0.2", False),
        pytest.param("::1", "::1", True, marks=needs_ipv6),
        pytest.param("::1", "[::1]", True, marks=needs_ipv6),
        pytest.param("::1", "localhost", True, marks=needs_ipv6),
        pytest.param("::", "127.0.0.1", True, marks=needs_ipv6),  # dual stack
        pytest.param("::ffff:127.0.0.1", "127.0.0.1", True, marks=needs_ipv6),
        pytest.param("::1", "127.0.0.1", False, marks=needs_ipv6),
        pytest.param("127.0.0.1", "::1", False, marks=needs_ipv6),
    ],
)
def test_same_user_holder(hold, listen_on, ask_for, found):
    with hold(listen_on) as (child, port):
        holders = find_holders(ask_for, port, timeout=5.0)
    if not found:
        assert child.pid not in pids_of(holders)
        return
    assert pids_of(holders) == [child.pid], holders
    (holder,) = holders
    assert holder.cmdline == " ".join(shlex.quote(arg) for arg in [sys.executable, hold.script, listen_on, MARKER])
    assert holder.uid == os.geteuid()
    assert holder.address == listen_on
    assert holder.port == port
    assert holder.source == "proc"


# What a return may take beyond the deadline: the clock is read between
# steps, and a loaded machine may not schedule us at once.
SCHEDULING_MARGIN = 0.1


def ms(times):
    """Seconds as a printable list of milliseconds."""
    return ", ".join("%.1f" % (t * 1000) for t in times)


def within(bound, call, attempts=3):
    """Run *call* until a run returns within *bound* seconds, *attempts* runs at most.

    Returns (the last run's result, the seconds of each run).  A loaded
    2-core runner may deschedule one run past any bound; a lookup that
    does not stop at its deadline overruns on every run.
    """
    times = []
    for _ in range(attempts):
        start = time.monotonic()
        result = call()
        times.append(time.monotonic() - start)
        if times[-1] < bound:
            break
    return result, times


def timed_lookups(host, port, pid, runs=5, most=10):
    """Run find_holders with its default timeout: (pids found per run, seconds per run).

    *runs* runs, then more, up to *most*, until one found *pid* within the
    default timeout.
    """
    found, times = [], []
    while len(times) < most:
        start = time.monotonic()
        holders = find_holders(host, port)
        times.append(time.monotonic() - start)
        found.append(pids_of(holders))
        if len(times) >= runs and _found_in_time(found, times, pid):
            break
    return found, times


def _found_in_time(found, times, pid):
    return any(pids == [pid] and seconds < _holder.DEFAULT_TIMEOUT for pids, seconds in zip(found, times))  # noqa: B905


def check_timed_lookups(found, times, pid, label):
    print("\nfind_holders, %s: %s ms" % (
        label, ", ".join("%.1f%s" % (t * 1000, "" if f == [pid] else " (not found)") for f, t in zip(found, times))))  # noqa: B905
    # The measurement the issue asks for: the holder found in under 200 ms.
    # On an idle machine every run is (30-98 ms with 1,000 sockets); on a
    # loaded 2-core runner, with the other lane busy, runs took 100-220 ms
    # and some reached the deadline, so one such run is required, not all.
    assert _found_in_time(found, times, pid), (found, times)
    # The deadline: the median, not the max, within it plus a scheduling
    # margin, since one run can be descheduled for longer (CI saw 499 ms
    # once).  That the deadline stops a slow scan is tested on the count of
    # readlinks done by test_deadline_honoured_when_the_scan_is_slow.
    assert sorted(times)[len(times) // 2] < _holder.DEFAULT_TIMEOUT + SCHEDULING_MARGIN
    # A run out of time reports the listener with pid None, or nothing when
    # the time was spent before any table was read (a run descheduled for
    # longer than the deadline, as CI saw once on a loaded runner): never
    # another pid.
    assert all(pids in ([pid], [None], []) for pids in found), found


@needs_proc
def test_default_deadline_finds_a_holder(hold):
    with hold("127.0.0.1") as (child, port):
        found, times = timed_lookups("127.0.0.1", port, child.pid)
    check_timed_lookups(found, times, child.pid, "a few sockets open")


@needs_proc
def test_a_socket_shared_by_two_processes_lists_both(tmp_path):
    """A reloader parent and its worker share one listening socket: both hold it."""
    code = textwrap.dedent(
        """
        import os, signal, socket, sys
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(5)
        if os.fork() == 0:
            sys.stdout.write("WORKER %d\\n" % os.getpid())
        else:
            sys.stdout.write("LISTENING %d PID %d\\n" % (sock.getsockname()[1], os.getpid()))
        sys.stdout.flush()
        signal.pause()
        """
    )
    with Child(["-c", code]) as child:
        # The two lines come in either order.
        either = re.compile(r"LISTENING (\d+) PID \d+|WORKER (\d+)")
        matches = [child.wait_for(either, START_TIMEOUT) for _ in range(2)]
        (port,) = [int(m.group(1)) for m in matches if m.group(1)]
        (worker,) = [int(m.group(2)) for m in matches if m.group(2)]
        holders = find_holders("127.0.0.1", port, timeout=5.0)
    assert sorted(pids_of(holders)) == sorted([child.pid, worker])


# --- another user's holder ------------------------------------------------------

def test_other_users_holder_gives_uid_without_pid(tmp_path):
    proc = fake_proc(
        tmp_path / "proc",
        tcp_rows=[
            tcp_row(0, to_hex("0.0.0.0"), 5000, 4242, 7777),
            tcp_row(1, to_hex("127.0.0.1"), 5001, 4242, 7778),  # another port
            tcp_row(2, to_hex("127.0.0.1"), 5000, 4242, 0, state="06"),  # TIME_WAIT: not a listener
        ],
        processes=[
            (4321, ["python3", "app.py"], None),  # the holder: its fd directory is not readable
            (4322, ["bash"], ["/dev/null", "socket:[9999]", "pipe:[5]"]),
        ],
    )
    holders = find_holders("127.0.0.1", 5000, proc=proc)
    assert holders == [Holder(None, None, 4242, "0.0.0.0", 5000, "proc")]


def test_visible_holder_in_a_simulated_proc(tmp_path):
    argv = ["/usr/bin/python3", "app.py", "--name", "two words", "it's"]
    proc = fake_proc(
        tmp_path / "proc",
        tcp6_rows=[tcp_row(0, to_hex("::ffff:127.0.0.1"), 5000, 1000, 7777)],
        processes=[(77, argv, ["/dev/null", "socket:[7777]", "socket:[7777]"])],
    )
    (holder,) = find_holders("127.0.0.1", 5000, proc=proc)
    assert holder == Holder(77, " ".join(shlex.quote(arg) for arg in argv), 1000, "::ffff:127.0.0.1", 5000, "proc")
    assert shlex.split(holder.cmdline) == argv


def test_malformed_rows_are_skipped(tmp_path):
    proc = fake_proc(
        tmp_path / "proc",
        tcp_rows=["   0: ZZZZ:1388 00000000:0000 0A x x x x uid 0 1\n", "garbage\n", tcp_row(1, to_hex("0.0.0.0"), 5000, 7, 1)],
    )
    assert find_holders("127.0.0.1", 5000, proc=proc) == [Holder(None, None, 7, "0.0.0.0", 5000, "proc")]


def test_rows_after_the_listening_section_are_not_read(tmp_path):
    proc = fake_proc(
        tmp_path / "proc",
        tcp_rows=[
            tcp_row(0, to_hex("127.0.0.1"), 5000, 1, 11),
            tcp_row(1, to_hex("127.0.0.1"), 5000, 2, 0, state="03"),  # SYN_RECV, listed with its listener before Linux 4.4
            tcp_row(2, to_hex("127.0.0.1"), 5000, 3, 12),
            tcp_row(3, to_hex("127.0.0.1"), 40000, 4, 13, state="01"),  # the established section starts
            tcp_row(4, to_hex("127.0.0.2"), 5000, 5, 14),  # cannot occur: not read
        ],
    )
    assert [h.uid for h in find_holders("", 5000, proc=proc)] == [1, 3]


def test_a_row_read_twice_gives_one_holder(tmp_path):
    # What the kernel hands out when a listener moves across a page boundary
    # between two reads: the same socket's row again (see the next test).
    row = tcp_row(0, to_hex("::1"), 5000, 1000, 7777)
    proc = fake_proc(
        tmp_path / "proc",
        tcp6_rows=[row, tcp_row(1, to_hex("::1"), 5001, 1000, 7778), row],
        processes=[(77, ["app"], ["socket:[7777]"])],
    )
    assert find_holders("::1", 5000, proc=proc) == [Holder(77, "app", 1000, "::1", 5000, "proc")]


def rebinding(sockets, stop, done):
    """Close and bind again, on the same ports, the listeners in *sockets* until *stop*.

    Appends to *done* once per listener bound again.

    The same ports, so that the churn takes no ephemeral port another test
    (or the other CI lane) may be about to be given.
    """
    ports = [sock.getsockname()[1] for sock in sockets]
    while not stop:
        for i, port in enumerate(ports):
            sockets[i].close()
            sock = socket.socket()
            sockets[i] = sock
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # taken in between by someone else: leave it to them
                continue
            sock.listen(1)
            done.append(port)


@needs_proc
def test_no_row_twice_while_listeners_come_and_go():
    # The failure CI met: ::1 found twice while the other lane bound and
    # closed servers.  Two hundred listeners span several of the kernel's
    # pages; two threads closing and binding twenty of them again move rows
    # across the pages.  Before the fix about one read in twenty repeated a
    # row here (25 of 460 in a measurement), so 300 reads all but always
    # meet one.
    listeners = open_listeners(200)
    churn = (listeners[:10], listeners[-10:])
    stop, done = [], []
    threads = [threading.Thread(target=rebinding, args=(sockets, stop, done)) for sockets in churn]
    try:
        for thread in threads:
            thread.start()
        reads = 0
        start = time.monotonic()
        while reads < 300 and time.monotonic() - start < 5.0:
            rows = _holder._listening_rows("/proc/net/tcp", time.monotonic() + 5.0)
            inodes = [row[9] for row in rows if row[9] != "0"]
            assert len(inodes) == len(set(inodes)), "read %d repeated a row" % reads
            reads += 1
        assert reads >= 50 and len(done) >= 10 * reads  # the rows did move meanwhile
        assert len(rows) > 4 * 27  # several pages of 27 rows of 150 bytes
    finally:
        stop.append(True)
        for thread in threads:
            thread.join(timeout=10)
        for sock in listeners[10:-10] + churn[0] + churn[1]:
            sock.close()


# --- the lookup under churn ----------------------------------------------------
#
# What a lookup reads is true only at the moment it reads it: the tables
# first, then every fd directory, then the command lines.  These tests make
# the port change hands at one chosen moment of a real lookup -- right after
# the fd scan found the listener's socket in a process, before the lookup
# returns -- by acting from inside os.readlink, which still returns the real
# link.  The processes, sockets and /proc are real; only the moment is
# chosen, so that each run meets the race the other CI lane meets by chance.

# Listens on argv[1] with SO_REUSEADDR, port argv[2] (0: any); on SIGUSR1,
# stops listening but keeps the socket open (shutdown() takes a listener
# back to CLOSE on Linux, and the port stays bound to it).
STOPPING_LISTENER = textwrap.dedent(
    """
    import os, signal, socket, sys
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    def stop(signum, frame):
        sock.shutdown(socket.SHUT_RDWR)
        sys.stdout.write("STOPPED\\n")
        sys.stdout.flush()
    signal.signal(signal.SIGUSR1, stop)
    sock.bind((host, port))
    sock.listen(5)
    sys.stdout.write("LISTENING %d PID %d INODE %d\\n" % (sock.getsockname()[1], os.getpid(), os.fstat(sock.fileno()).st_ino))
    sys.stdout.flush()
    while True:
        signal.pause()
    """
)

# Waits for SIGUSR1, then listens on argv[1], port argv[2], with SO_REUSEADDR.
LATE_LISTENER = textwrap.dedent(
    """
    import os, signal, socket, sys
    host, port = sys.argv[1], int(sys.argv[2])
    def start(signum, frame):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(5)
        keep.append(sock)
        sys.stdout.write("LISTENING %d PID %d\\n" % (port, os.getpid()))
        sys.stdout.flush()
    keep = []
    signal.signal(signal.SIGUSR1, start)
    sys.stdout.write("READY\\n")
    sys.stdout.flush()
    while True:
        signal.pause()
    """
)

# Listens on argv[1], port 0, and forks: the child has the listening socket
# too, until SIGUSR1 makes it exec another program (the socket is
# close-on-exec, PEP 446), which says so and sleeps.
FORKING_LISTENER = textwrap.dedent(
    """
    import os, signal, socket, sys
    host = sys.argv[1]
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, 0))
    sock.listen(5)
    program = "import sys, time; sys.stdout.write('EXECED\\\\n'); sys.stdout.flush(); time.sleep(60)"
    def run_another_program(signum, frame):
        os.execv(sys.executable, [sys.executable, "-c", program, "portfix-test-not-a-holder"])
    signal.signal(signal.SIGUSR1, run_another_program)
    child = os.fork()
    if child == 0:
        sys.stdout.write("CHILD %d\\n" % os.getpid())
    else:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        sys.stdout.write("LISTENING %d PID %d INODE %d\\n" % (sock.getsockname()[1], os.getpid(), os.fstat(sock.fileno()).st_ino))
    sys.stdout.flush()
    while True:
        signal.pause()
    """
)

CHURN_LISTENING = re.compile(r"LISTENING (\d+) PID (\d+)(?: INODE (\d+))?")


def command_line(argv):
    """The command line find_holders gives for ``Child(argv)``."""
    return " ".join(shlex.quote(arg) for arg in [sys.executable] + argv)


def act_when_scanned(monkeypatch, pid, inode, action):
    """Run *action* once, the moment the fd scan reads *pid*'s link to socket *inode*.

    Returns a list that gets True once the action has run.
    """
    real_readlink = os.readlink
    target = ("/proc/%d/fd/" % pid, "socket:[%d]" % inode)
    done = []

    def readlink(path):
        link = real_readlink(path)
        if not done and str(path).startswith(target[0]) and link == target[1]:
            done.append(True)
            action()
        return link

    monkeypatch.setattr(_holder.os, "readlink", readlink)
    return done


def listening_inodes(port):
    """The inodes of the sockets listening on *port* now, read once more from the kernel."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A" and fields[1].endswith(":%04X" % port):
                        inodes.add(int(fields[9]))
    return inodes


@needs_proc
@pytest.mark.parametrize("host, ask_for", [
    ("127.0.0.1", "127.0.0.1"),
    pytest.param("::1", "localhost", marks=needs_ipv6),  # the failure CI met, on ::1
])
def test_a_listener_that_stopped_while_the_lookup_read_is_not_named(monkeypatch, host, ask_for):
    """A stops listening on P (its socket still open) and B binds P, while the lookup runs.

    Before the confirmation at the end, the lookup named A: the table it
    read first had A's socket listening, and A still had that socket when
    the fd scan came to it.
    """
    with Child(["-c", STOPPING_LISTENER, host, "0"]) as first:
        port, first_pid, inode = (int(n) for n in first.wait_for(CHURN_LISTENING, START_TIMEOUT).groups())
        with Child(["-c", LATE_LISTENER, host, str(port)]) as second:
            second.wait_for(re.compile("READY"), START_TIMEOUT)

            def hand_over():
                os.kill(first_pid, signal.SIGUSR1)
                first.wait_for(re.compile("STOPPED"), START_TIMEOUT)
                os.kill(second.pid, signal.SIGUSR1)
                second.wait_for(CHURN_LISTENING, START_TIMEOUT)

            acted = act_when_scanned(monkeypatch, first_pid, inode, hand_over)
            holders = find_holders(ask_for, port, timeout=5.0)
            assert acted, "the lookup never read the first listener's socket"
            assert inode not in listening_inodes(port)  # A no longer listens: B does
            assert first_pid not in pids_of(holders), holders
            # B bound the port after the first read of the tables; the
            # second read shows it, and it is looked up in turn.
            assert pids_of(holders) == [second.pid], holders
            assert holders[0].cmdline == command_line(["-c", LATE_LISTENER, host, str(port)])


@needs_proc
def test_a_forked_process_that_execd_while_the_lookup_read_is_not_named(monkeypatch):
    """A holder's forked child has the socket until it execs another program: not named after that.

    Before the confirmation at the end, the lookup found the socket in the
    child's fd directory, then read its command line after the exec, and
    named a program that never listened.
    """
    with Child(["-c", FORKING_LISTENER, "127.0.0.1"]) as listener:
        lines = [listener.wait_for(re.compile(r"CHILD (\d+)|LISTENING"), START_TIMEOUT) for _ in range(2)]
        (forked,) = [int(m.group(1)) for m in lines if m.group(1)]
        port, _, inode = (int(n) for n in CHURN_LISTENING.search("\n".join(listener.lines)).groups())

        def run_another_program():
            os.kill(forked, signal.SIGUSR1)
            listener.wait_for(re.compile("EXECED"), START_TIMEOUT)

        acted = act_when_scanned(monkeypatch, forked, inode, run_another_program)
        holders = find_holders("127.0.0.1", port, timeout=5.0)
        assert acted, "the lookup never read the forked child's socket"
        assert pids_of(holders) == [listener.pid], holders
        assert holders[0].cmdline == command_line(["-c", FORKING_LISTENER, "127.0.0.1"])


@needs_proc
@pytest.mark.skipif(os.geteuid() != 0 or unprivileged_python() is None, reason="needs root to switch to uid 65534")
def test_other_users_holder_for_real(hold):
    """Root's holder, looked up by a process of uid 65534: the uid without the pid."""
    lookup = textwrap.dedent(
        """
        import json, os, sys
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        sys.path.insert(0, sys.argv[1])
        from portfix._holder import find_holders
        holders = find_holders("127.0.0.1", int(sys.argv[2]), timeout=5.0)
        sys.stdout.write("HOLDERS " + json.dumps([list(h) for h in holders]) + "\\n")
        """
    )
    with hold("0.0.0.0") as (_, port), Child(["-c", lookup, SRC, str(port)], python=unprivileged_python()) as looker:
        result = json.loads(looker.wait_for(re.compile(r"HOLDERS (.*)"), START_TIMEOUT).group(1))
    assert [Holder(*fields) for fields in result] == [Holder(None, None, 0, "0.0.0.0", port, "proc")]


# --- the deadline -----------------------------------------------------------------


def open_listeners(count):
    """*count* listening sockets on 127.0.0.1, raising RLIMIT_NOFILE's soft limit if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = count + 256
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, needed))
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
            sock.listen(1)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@pytest.fixture
def thousand_sockets():
    soft_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    sockets = open_listeners(1000)
    yield sockets
    for sock in sockets:
        sock.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, soft_hard)


@needs_proc
def test_a_thousand_sockets_within_the_deadline(hold, thousand_sockets):
    with hold("127.0.0.1") as (child, port):
        found, times = timed_lookups("127.0.0.1", port, child.pid)
    check_timed_lookups(found, times, child.pid, "1,000 sockets open in this process")
    # One of our own 1,000 listeners: found among 1,000 rows and fds.
    ours = thousand_sockets[500].getsockname()[1]
    found, times = timed_lookups("127.0.0.1", ours, os.getpid())
    check_timed_lookups(found, times, os.getpid(), "one of those 1,000 sockets")


def test_deadline_honoured_when_the_scan_is_slow(tmp_path, monkeypatch):
    """A scan that would take seconds stops at the deadline with what it found."""
    processes = [(100 + n, ["idle"], ["/dev/null"] * 20) for n in range(50)]
    processes.append((999, ["holder"], ["/dev/null"] * 39 + ["socket:[7777]"]))  # the most fds: read last
    proc = fake_proc(tmp_path / "proc", tcp_rows=[tcp_row(0, to_hex("127.0.0.1"), 5000, 4242, 7777)], processes=processes)
    real_readlink = os.readlink
    calls = []

    def slow_readlink(path):
        calls.append(path)
        time.sleep(0.005)  # a slow /proc: 1,040 fds would take over 5 s
        return real_readlink(path)

    def lookup():
        del calls[:]
        return find_holders("127.0.0.1", 5000, timeout=0.1, proc=proc)

    monkeypatch.setattr(_holder.os, "readlink", slow_readlink)
    holders, times = within(0.1 + SCHEDULING_MARGIN, lookup)
    print("\nfind_holders, slow scan, timeout 0.1 s: %s ms, %d of 1,040 readlinks in the last" % (ms(times), len(calls)))
    assert times[-1] < 0.1 + SCHEDULING_MARGIN
    assert 0 < len(calls) < 1000  # the scan started and did not finish
    # The listener was read from net/tcp before the scan: it is reported
    # with its uid, its pid not found in time.
    assert holders == [Holder(None, None, 4242, "127.0.0.1", 5000, "proc")]
    # With time enough, the same tree gives the pid.
    monkeypatch.setattr(_holder.os, "readlink", real_readlink)
    assert pids_of(find_holders("127.0.0.1", 5000, timeout=10.0, proc=proc)) == [999]


@needs_proc
def test_tiny_timeout_with_a_thousand_sockets(hold, thousand_sockets):
    with hold("127.0.0.1") as (child, port):
        holders, times = within(0.001 + SCHEDULING_MARGIN, lambda: find_holders("127.0.0.1", port, timeout=0.001))
    print("\nfind_holders, 1,000 sockets open, timeout 1 ms: %s ms" % ms(times))
    assert times[-1] < 0.001 + SCHEDULING_MARGIN
    assert all(holder.pid in (None, child.pid) and holder.port == port for holder in holders), holders


def test_zero_timeout_returns_at_once():
    holders, times = within(0.05, lambda: find_holders("127.0.0.1", 5000, timeout=0))
    assert holders == [] and times[-1] < 0.05, times


def test_a_command_is_killed_at_the_deadline():
    if shutil.which("sleep") is None:
        pytest.skip("no sleep command")
    start = time.monotonic()
    with pytest.raises(_holder._Unavailable):
        _holder._run(["sleep", "10"], time.monotonic() + 0.1)
    assert time.monotonic() - start < 2.0


# --- the other sources -------------------------------------------------------------


def psutil_importable():
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "source, available",
    [
        ("psutil", psutil_importable()),
        ("lsof", shutil.which("lsof") is not None),
        ("ss", shutil.which("ss") is not None and sys.platform.startswith("linux")),
    ],
)
def test_other_sources_find_the_holder(hold, tmp_path, source, available):
    if not available:
        pytest.skip("%s is not available here" % source)
    with hold("127.0.0.1") as (child, port):
        # Without procfs the command line comes from ps: the same words, not re-quoted.
        holders = find_holders("127.0.0.1", port, timeout=10.0, proc=str(tmp_path / "no-proc"), sources=[source])
        assert find_holders("127.0.0.2", port, timeout=10.0, sources=[source]) == []
    assert pids_of(holders) == [child.pid], holders
    (holder,) = holders
    assert holder.source == source
    assert MARKER in holder.cmdline and hold.script in holder.cmdline
    assert holder.uid in (os.geteuid(), None)
    assert holder.port == port


def test_psutil_repeating_a_connection_gives_one_holder(monkeypatch):
    # psutil reads /proc/net/tcp as we do, so the kernel may hand it a row twice.
    conn = collections.namedtuple("sconn", "fd family type laddr raddr status pid")(
        3, socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 5000), (), "LISTEN", 77)
    process = types.SimpleNamespace(cmdline=lambda: ["app"], uids=lambda: types.SimpleNamespace(real=1000))
    fake = types.SimpleNamespace(CONN_LISTEN="LISTEN", net_connections=lambda kind: [conn, conn],
                                 Process=lambda pid: process)
    monkeypatch.setitem(sys.modules, "psutil", fake)
    holders = find_holders("127.0.0.1", 5000, sources=["psutil"])
    assert holders == [Holder(77, "app", 1000, "127.0.0.1", 5000, "psutil")]


def test_without_proc_the_next_source_answers(hold, tmp_path):
    if not (psutil_importable() or shutil.which("lsof") or shutil.which("ss")):
        pytest.skip("neither psutil, lsof nor ss here")
    with hold("127.0.0.1") as (child, port):
        holders = find_holders("127.0.0.1", port, timeout=10.0, proc=str(tmp_path / "no-proc"))
    assert pids_of(holders) == [child.pid]
    assert holders[0].source in ("psutil", "lsof", "ss")


def test_without_any_source_nothing_is_found(tmp_path):
    assert find_holders("127.0.0.1", 5000, proc=str(tmp_path), sources=["proc"]) == []


@pytest.mark.parametrize(
    "host, port",
    [("127.0.0.1", "5000"), ("127.0.0.1", None), ("127.0.0.1", 0), ("127.0.0.1", 70000), ("127.0.0.1", True),
     (b"127.0.0.1", 5000), (None, 5000), ("::1%lo", 5000), ("[", 5000)],
)
def test_never_raises(host, port, tmp_path):
    proc = fake_proc(tmp_path / "proc", tcp_rows=[tcp_row(0, to_hex("0.0.0.0"), 5000, 3, 1)])
    holders = find_holders(host, port, proc=proc, sources=["proc"])
    assert holders == ([Holder(None, None, 3, "0.0.0.0", 5000, "proc")] if port == 5000 else [])


def test_a_failing_source_is_skipped(monkeypatch, tmp_path):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setitem(_holder._SOURCE_FUNCTIONS, "proc", broken)
    proc = fake_proc(tmp_path / "proc")
    assert find_holders("127.0.0.1", 5000, proc=proc, sources=["proc"]) == []


@pytest.mark.parametrize(
    "line, expected",
    [
        ('LISTEN 0 128 127.0.0.1:5000 0.0.0.0:* users:(("python3",pid=31279,fd=3)) uid:1000 ino:1 sk:1 <->',
         [(31279, "python3", 1000, "127.0.0.1")]),
        ('LISTEN 0 128 [::]:5000 [::]:* users:(("a",pid=1,fd=3),("b",pid=2,fd=3)) ino:1 sk:1 <->',
         [(1, "a", 0, "::"), (2, "b", 0, "::")]),  # ss leaves out uid:0
        ("LISTEN 0 128 *:5000 *:* uid:1000 ino:1 sk:1 <->", [(None, None, 1000, "*")]),
        ("LISTEN 0 128 127.0.0.1%lo:5000 0.0.0.0:*", [(None, None, None, "127.0.0.1")]),
        ("LISTEN 0 128 127.0.0.1:5001 0.0.0.0:* uid:1000 ino:1", []),
    ],
)
def test_ss_output(monkeypatch, tmp_path, line, expected):
    header = "State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n"
    monkeypatch.setattr(_holder, "_run", lambda argv, deadline: header + line + "\n")
    holders = _holder._from_ss(5000, None, str(tmp_path), time.monotonic() + 1)
    assert [(h.pid, h.cmdline, h.uid, h.address) for h in holders] == expected


def test_lsof_listing_a_socket_per_fd_gives_one_holder(monkeypatch, tmp_path):
    output = "p100\ncPython\nu501\nf3\nn127.0.0.1:5000\nf4\nn127.0.0.1:5000\n"  # after dup(), or in a forked child
    monkeypatch.setattr(_holder, "_run", lambda argv, deadline: output if argv[0] == "lsof" else "")
    holders = find_holders("127.0.0.1", 5000, proc=str(tmp_path), sources=["lsof"])
    assert holders == [Holder(100, "Python", 501, "127.0.0.1", 5000, "lsof")]


def test_lsof_output(monkeypatch, tmp_path):
    output = "p100\ncPython\nu501\nf4\nn*:5000\nf5\nn[::1]:5000\np200\ncother\nu0\nf3\nn127.0.0.2:5000\n"
    monkeypatch.setattr(_holder, "_run", lambda argv, deadline: output if argv[0] == "lsof" else "")
    holders = _holder._from_lsof(5000, _holder._wanted_addresses("::1"), str(tmp_path), time.monotonic() + 1)
    assert holders == [Holder(100, "Python", 501, "*", 5000, "lsof"), Holder(100, "Python", 501, "::1", 5000, "lsof")]


# --- the other sources confirm too --------------------------------------------------


def fake_psutil(monkeypatch, listings):
    """A psutil whose net_connections() gives each of *listings* ((pid, address) lists) in turn."""
    sconn = collections.namedtuple("sconn", "fd family type laddr raddr status pid")
    calls = []

    def net_connections(kind):
        listing = listings[min(len(calls), len(listings) - 1)]
        calls.append(kind)
        return [sconn(3, socket.AF_INET, socket.SOCK_STREAM, (address, 5000), (), "LISTEN", pid) for pid, address in listing]

    def process(pid):
        return types.SimpleNamespace(cmdline=lambda: ["app%d" % pid], uids=lambda: types.SimpleNamespace(real=1000))

    monkeypatch.setitem(sys.modules, "psutil", types.SimpleNamespace(
        CONN_LISTEN="LISTEN", net_connections=net_connections, Process=process))
    return calls


@pytest.mark.parametrize("second, expected", [
    ([(77, "127.0.0.1")], [Holder(77, "app77", 1000, "127.0.0.1", 5000, "psutil")]),
    ([(78, "127.0.0.1")], []),  # 77 closed it and 78 bound the port after the command lines were read
    ([], []),  # gone
])
def test_psutil_names_only_who_still_listens(monkeypatch, second, expected):
    calls = fake_psutil(monkeypatch, [[(77, "127.0.0.1")], second])
    assert find_holders("127.0.0.1", 5000, sources=["psutil"]) == expected
    assert len(calls) == 2


def test_lsof_confirms_with_the_pids_it_found(monkeypatch, tmp_path):
    runs = []

    def run(argv, deadline):
        runs.append(argv)
        if argv[0] == "ps":
            return "100 /usr/bin/python3 app.py\n"
        if "-p" in argv:  # the confirmation: pid 100 exited meanwhile, 200 took the port
            return "p200\ncother\nu501\nf3\nn127.0.0.1:5000\n"
        return "p100\ncPython\nu501\nf3\nn127.0.0.1:5000\n"

    monkeypatch.setattr(_holder, "_run", run)
    assert find_holders("127.0.0.1", 5000, proc=str(tmp_path), sources=["lsof"]) == []
    confirmation = runs[-1]
    assert confirmation[confirmation.index("-p") + 1] == "100" and "-a" in confirmation
    assert [argv[0] for argv in runs] == ["lsof", "ps", "lsof"]  # the command lines before the confirmation


def test_ss_names_only_who_still_listens(monkeypatch, tmp_path):
    header = "State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n"
    outputs = [
        header + 'LISTEN 0 128 127.0.0.1:5000 0.0.0.0:* users:(("a",pid=1,fd=3)) uid:1000 ino:1 sk:1 <->\n',
        header + 'LISTEN 0 128 127.0.0.1:5000 0.0.0.0:* users:(("b",pid=2,fd=3)) uid:1000 ino:2 sk:2 <->\n',
    ]
    monkeypatch.setattr(_holder, "_run", lambda argv, deadline: outputs.pop(0) if argv[0] == "ss" else "")
    assert _holder._from_ss(5000, None, str(tmp_path), time.monotonic() + 1) == []


def test_a_source_that_cannot_confirm_names_no_one(monkeypatch, tmp_path):
    outputs = ["p100\ncPython\nu501\nf3\nn127.0.0.1:5000\n"]

    def run(argv, deadline):
        if argv[0] == "ps":
            return ""
        if not outputs:
            raise _holder._Unavailable("lsof: timed out")
        return outputs.pop(0)

    monkeypatch.setattr(_holder, "_run", run)
    holders = find_holders("127.0.0.1", 5000, proc=str(tmp_path), sources=["lsof"])
    assert holders == [Holder(None, None, 501, "127.0.0.1", 5000, "lsof")]
