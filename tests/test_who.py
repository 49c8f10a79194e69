"""``portfix who PORT``: who listens on a TCP port, against real listeners (own user,
another user, nobody) and any server."""

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import pytest

from _holding import LISTENING, MARKER, SRC, START_TIMEOUT, Holding, unprivileged_python
from portfix._process import Child
from portfix._who import format_who

# Cell-independent: the holder lookup and its CLI, on plain sockets and plain Python children.
pytestmark = pytest.mark.cell_independent

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/net"), reason="needs Linux's /proc")


def who(*args):
    return subprocess.run([sys.executable, "-m", "portfix", "who"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)


def _user(uid):
    import pwd

    try:
        return "uid %d (%s)" % (uid, pwd.getpwuid(uid).pw_name)
    except KeyError:
        return "uid %d" % uid


@needs_proc
def test_own_listener(tmp_path):
    with Holding(tmp_path, "127.0.0.1") as (holder, port):
        text = who(str(port))
        as_json = who(str(port), "--json")
    assert text.returncode == 0 and text.stderr == ""
    header, row = text.stdout.splitlines()
    assert re.split(r"\s{2,}", header) == ["PID", "USER", "ADDRESS", "COMMAND"]
    pid, user, address, command = re.split(r"\s{2,}", row, maxsplit=3)
    assert (int(pid), user, address) == (holder.pid, _user(os.geteuid()), "127.0.0.1:%d" % port)
    assert command.endswith("hold_port.py 127.0.0.1 %s" % MARKER)
    result = json.loads(as_json.stdout)
    assert as_json.returncode == 0
    assert result["port"] == port and result["host"] is None and result["listening"] is True
    (found,) = result["holders"]
    assert (found["pid"], found["uid"], found["address"], found["port"]) == (holder.pid, os.geteuid(), "127.0.0.1", port)
    assert MARKER in found["cmdline"]


@needs_proc
def test_any_server_and_an_ipv6_wildcard(tmp_path):
    """Not only Werkzeug's: python -m http.server, listening on :: (Python 3.8+ binds it by default)."""
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Child(["-m", "http.server", str(port), "--bind", "127.0.0.1"]) as server:
        server.wait_for(re.compile(r"Serving HTTP"), START_TIMEOUT)
        result = json.loads(who(str(port), "--host", "localhost", "--json").stdout)
    assert [h["pid"] for h in result["holders"]] == [server.pid]
    assert "-m http.server %d" % port in result["holders"][0]["cmdline"]


@needs_proc
def test_nobody_listens():
    with contextlib.closing(socket.socket()) as reserved:  # bound, never listening
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        text = who(str(port))
        as_json = who(str(port), "--json")
    assert (text.returncode, text.stdout) == (1, "nobody listens on TCP port %d\n" % port)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"port": port, "host": None, "holders": [], "listening": False}


@needs_proc
def test_host_narrows_to_conflicting_listeners(tmp_path):
    with Holding(tmp_path, "127.0.0.1") as (holder, port):
        other = who(str(port), "--host", "::1")
        same = who(str(port), "--host", "127.0.0.1")
    assert other.returncode == 1 and other.stdout == "nobody listens on TCP port %d (::1)\n" % port
    assert same.returncode == 0 and str(holder.pid) in same.stdout


@needs_proc
def test_a_command_line_is_escaped(tmp_path):
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent(
        """
        import os, signal, socket, sys
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        sys.stdout.write("LISTENING %d PID %d\\n" % (sock.getsockname()[1], os.getpid()))
        sys.stdout.flush()
        signal.pause()
        """
    ))
    with Child([str(script), "title\x1b]0;owned\x07\x1b[2J"]) as holder:
        port = int(holder.wait_for(LISTENING, START_TIMEOUT).group(1))
        result = who(str(port))
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "title\\x1b]0;owned\\x07\\x1b[2J" in result.stdout


# --- another user ------------------------------------------------------------------

AS_NOBODY = textwrap.dedent(
    """
    import os, signal, socket, sys  # imported as root: /root may be closed to uid 65534
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    sock = socket.socket()  # after setuid: a socket belongs to the uid that created it
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    sys.stdout.write("LISTENING %d PID %d\\n" % (sock.getsockname()[1], os.getpid()))
    sys.stdout.flush()
    signal.pause()
    """
)


@needs_proc
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a listener as uid 65534")
def test_another_users_listener_as_root():
    with Child(["-c", AS_NOBODY]) as holder:
        port = int(holder.wait_for(LISTENING, START_TIMEOUT).group(1))
        text = who(str(port))
        result = json.loads(who(str(port), "--json").stdout)
    (found,) = result["holders"]
    assert (found["pid"], found["uid"]) == (holder.pid, 65534)  # root sees every process
    assert _user(65534) in text.stdout and str(holder.pid) in text.stdout


@needs_proc
@pytest.mark.skipif(os.geteuid() != 0 or unprivileged_python() is None,
                    reason="needs root to switch to uid 65534, and a Python that uid can run")
def test_another_users_listener_seen_by_an_unprivileged_user(tmp_path):
    """Root's listener, asked about by uid 65534: the uid, no pid, and why."""
    ask = textwrap.dedent(
        """
        import os, sys
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        sys.path.insert(0, sys.argv[1])
        from portfix.__main__ import main
        sys.exit(main(["who", sys.argv[2]]))
        """
    )
    with Holding(tmp_path, "127.0.0.1") as (_, port):
        with Child(["-c", ask, SRC, str(port)], python=unprivileged_python()) as asker:
            code = asker.wait_exit(START_TIMEOUT)
            asker.stop()  # joins the reader: every line is in
            lines = asker.output().splitlines()
    assert code == 0, lines
    assert re.split(r"\s{2,}", lines[1], maxsplit=3) == [
        "-", _user(os.geteuid()), "127.0.0.1:%d" % port,
        "(not visible: the process belongs to another user; root can see it)"]


def test_the_other_formats():
    holder = {"pid": None, "uid": 4242, "user": None, "address": "0.0.0.0", "port": 5000, "cmdline": None,
              "source": "proc"}
    own = dict(holder, uid=1000)
    result = {"port": 5000, "host": None, "holders": [holder, own], "listening": True}
    lines = format_who(result, euid=1000).splitlines()
    assert lines[1].split("  ")[-1] == "(not visible: the process belongs to another user; root can see it)"
    assert lines[2].endswith("(pid not found: the lookup ran out of time, or the process runs in another PID namespace)")
    unseen = format_who({"port": 5000, "host": "127.0.0.1", "holders": [], "listening": True})
    assert unseen == ("something accepts connections on TCP port 5000 (127.0.0.1), but its process was not "
                      "found (another PID namespace, or the lookup ran out of time)")


@pytest.mark.parametrize("port", ["0", "70000", "abc", "-1", "5000.0"])
def test_a_bad_port_is_a_usage_error(port):
    result = who(port)
    assert result.returncode == 2
    assert "portfix who: error: argument PORT: expected a TCP port from 1 to 65535, got %r" % port in result.stderr
