"""PortInUseError and BindError: OSErrors with the original errno, and a message that names the holder."""

import errno
import os
import pickle
import shlex
import socket
import sys

import pytest
from _holding import HOSTILE_ARGS, MARKER, Holding, fake_proc, tcp_row, to_hex

from portfix._errors import (
    BindError,
    PortInUseError,
    bind_error,
    is_address_in_use,
    port_in_use_error,
    port_in_use_message,
)
from portfix._holder import Holder, find_holders

# Cell-independent: PortInUseError/BindError built from real and simulated bind errors and holders;
# no Flask or Werkzeug code runs.
pytestmark = pytest.mark.cell_independent

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="no /proc/net/tcp (not Linux)")

REMEDY_PORT_0 = "pass port=0 to let the OS choose a free ephemeral port"
REMEDY_OTHER = "choose another port with --port / port="
AIRPLAY = "AirPlay Receiver"


def os_error(code, winerror=None):
    exc = OSError(code, os.strerror(code) if code < 200 else "socket error")
    if winerror is not None:
        exc.winerror = winerror  # what Windows' OSError carries
    return exc


def bind_twice_on(host, port):
    """The real OSError of binding *host*:*port*, which another process listens on."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        with pytest.raises(OSError) as info:
            sock.bind((host, port))
    return info.value, port


def no_holders(host, port):
    return []


def bind_twice(host):
    """The real OSError of binding *host*'s port a second time, and the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as first, socket.socket(family) as second:
        first.bind((host, 0))
        first.listen(1)
        port = first.getsockname()[1]
        with pytest.raises(OSError) as info:
            second.bind((host, port))
    return info.value, port


# --- is_address_in_use ------------------------------------------------------------


@pytest.mark.parametrize(
    "code, winerror, platform, expected",
    [
        (98, None, "linux", True),
        (48, None, "darwin", True),
        (48, None, "freebsd13", True),
        (10048, None, "win32", True),
        (10048, 10048, "win32", True),
        (13, 10013, "win32", True),  # WSAEACCES: an exclusive holder, or an excluded port range
        (10013, 10013, "win32", True),
        (13, None, "linux", False),  # EACCES: a privileged port, not a busy one
        (13, None, "darwin", False),
        (48, None, "linux", False),  # ELNRNG on Linux
        (98, None, "darwin", False),  # ENOSR on macOS
        (99, None, "linux", False),  # EADDRNOTAVAIL
        (111, None, "linux", False),
    ],
)
def test_is_address_in_use(code, winerror, platform, expected):
    assert is_address_in_use(os_error(code, winerror), platform=platform) is expected


def test_is_address_in_use_on_this_platform():
    assert is_address_in_use(os_error(errno.EADDRINUSE))
    assert not is_address_in_use(os_error(errno.EACCES))
    assert not is_address_in_use(OSError("no errno"))
    assert not is_address_in_use(SystemExit(1))  # Werkzeug >= 2.1 on a busy port
    assert not is_address_in_use(ValueError("x"))


def test_a_real_collision_is_address_in_use():
    exc, _ = bind_twice("127.0.0.1")
    assert exc.errno == errno.EADDRINUSE
    assert is_address_in_use(exc)


# --- the error ------------------------------------------------------------------


@needs_proc
@pytest.mark.parametrize("listen_on, ask_for", [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1")])
def test_same_user_holder_is_named(tmp_path, listen_on, ask_for):
    with Holding(tmp_path, listen_on) as (child, port):
        with socket.socket() as sock:
            try:
                sock.bind((ask_for, port))
            except OSError as exc:
                original = exc
            else:
                pytest.fail("bound a port that another process holds")
        for _ in range(3):  # the lookup has 0.2 s, which a loaded runner may take from us
            with pytest.raises(PortInUseError) as info:
                try:
                    raise original
                except OSError as exc:
                    raise port_in_use_error(exc, ask_for, port) from exc
            if [holder.pid for holder in info.value.holders] == [child.pid]:
                break
    error = info.value
    message = str(error)
    print("\n" + message)
    assert isinstance(error, OSError) and isinstance(error, BindError)
    assert error.errno == errno.EADDRINUSE
    assert error.__cause__ is original
    assert (error.host, error.port) == (ask_for, port)
    assert [holder.pid for holder in error.holders] == [child.pid]
    expected_cmdline = " ".join(shlex.quote(arg) for arg in [sys.executable, str(tmp_path / "hold_port.py"), listen_on, MARKER])
    assert message.startswith("[Errno %d] Address already in use: %s:%d\n" % (errno.EADDRINUSE, ask_for, port))
    assert "held by pid %d: " % child.pid in message
    assert "held by pid %d: %s (on " % (child.pid, expected_cmdline) in message
    assert "(on %s:%d)" % (listen_on, port) in message
    assert "stop pid %d" % child.pid in message
    assert REMEDY_PORT_0 in message and REMEDY_OTHER in message
    assert AIRPLAY not in message
    assert len(message.splitlines()) == 3


def test_an_except_oserror_handler_still_catches_it():
    exc, port = bind_twice("127.0.0.1")
    try:
        raise port_in_use_error(exc, "127.0.0.1", port, lookup=no_holders) from exc
    except OSError as caught:
        assert caught.errno == errno.EADDRINUSE
        assert caught.strerror.startswith("Address already in use")


def test_other_users_holder_gives_uid_and_says_pid_not_visible(tmp_path):
    proc = fake_proc(
        tmp_path / "proc",
        tcp_rows=[tcp_row(0, to_hex("0.0.0.0"), 5000, 4242, 7777)],
        processes=[(4321, ["python3", "app.py"], None)],  # no readable fd directory
    )

    def lookup(host, port):
        return find_holders(host, port, proc=proc)

    error = port_in_use_error(os_error(98), "127.0.0.1", 5000, lookup=lookup, platform="linux")
    message = str(error)
    print("\n" + message)
    assert error.holders == [Holder(None, None, 4242, "0.0.0.0", 5000, "proc")]
    assert "held by another user's process: uid 4242" in message
    assert "its pid is not visible, since the process belongs to another user" in message
    assert "(on 0.0.0.0:5000)" in message
    assert "stop pid" not in message
    assert REMEDY_PORT_0 in message and REMEDY_OTHER in message


def printable_lines(message):
    """The message's lines, each checked to hold no control character (no forged line, no escape sequence)."""
    lines = message.split("\n")
    for line in lines:
        assert line.isprintable(), line
    return lines


def test_a_command_line_with_control_characters_is_shown_escaped():
    cmdline = " ".join(shlex.quote(arg) for arg in ["python3", "app.py"] + HOSTILE_ARGS)
    holder = Holder(4321, cmdline, 1000, "127.0.0.1", 5000, "proc")
    message = port_in_use_message("127.0.0.1", 5000, [holder], platform="linux", euid=1000)
    lines = printable_lines(message)
    assert len(lines) == 3 and lines[2].startswith("  To fix: stop pid 4321;")
    assert "\\x1b]0;portfix-owned\\x07" in lines[1] and "\\r\\x1b[2K" in lines[1]
    assert "\\n  To fix: run curl" in lines[1]
    assert holder.cmdline == cmdline  # the raw data stays for code


def test_text_from_outside_in_the_address_is_escaped():
    holder = Holder(None, None, 1000, "\x1b[2K*", 5000, "lsof")
    lines = printable_lines(port_in_use_message("127.0.0.1\x1b]0;x\x07", 5000, [holder], euid=1000))
    assert lines[0] == "Address already in use: 127.0.0.1\\x1b]0;x\\x07:5000"
    assert "(on \\x1b[2K*:5000)" in lines[1]
    assert len(lines) == 3


@needs_proc
def test_a_real_holder_with_escape_sequences_in_its_arguments(tmp_path):
    """A holder process whose argv carries escape sequences and a forged line: the error shows them escaped."""
    with Holding(tmp_path, "127.0.0.1", extra=HOSTILE_ARGS) as (child, port):
        exc, _ = bind_twice_on("127.0.0.1", port)
        for _ in range(3):  # the lookup has 0.2 s, which a loaded runner may take from us
            error = port_in_use_error(exc, "127.0.0.1", port)
            if [holder.pid for holder in error.holders] == [child.pid]:
                break
    message = str(error)
    print("\n" + message)
    assert [holder.pid for holder in error.holders] == [child.pid]
    assert error.holders[0].cmdline.endswith(" ".join(shlex.quote(arg) for arg in HOSTILE_ARGS + ["127.0.0.1", MARKER]))
    lines = printable_lines(message)
    assert len(lines) == 3
    assert lines[1].startswith("  held by pid %d: " % child.pid) and "\\x1b]0;portfix-owned\\x07" in lines[1]
    assert lines[2].startswith("  To fix: stop pid %d;" % child.pid)


def test_a_known_user_name_is_given():
    pwd = pytest.importorskip("pwd")
    name = pwd.getpwuid(0).pw_name
    message = port_in_use_message("127.0.0.1", 8000, [Holder(None, None, 0, "::", 8000, "proc")], euid=12345)
    assert "another user's process: uid 0 (%s) (on [::]:8000)" % name in message


def test_own_uid_without_pid_is_not_called_another_user():
    holder = Holder(None, None, 1000, "127.0.0.1", 8000, "proc")
    message = port_in_use_message("127.0.0.1", 8000, [holder], euid=1000)
    assert "another user" not in message
    assert "whose pid was not found" in message


def test_nothing_found():
    error = port_in_use_error(os_error(98), "", 8000, lookup=no_holders, platform="linux")
    assert str(error).splitlines() == [
        "[Errno 98] Address already in use: *:8000",
        "  the process that holds it was not found",
        "  To fix: %s; or %s." % (REMEDY_PORT_0, REMEDY_OTHER),
    ]


def test_a_failing_lookup_still_gives_the_error():
    def broken(host, port):
        raise RuntimeError("boom")

    error = port_in_use_error(os_error(98), "::1", 8000, lookup=broken)
    assert error.holders == []
    assert "Address already in use: [::1]:8000" in str(error)


@pytest.mark.parametrize(
    "platform, port, hint",
    [("darwin", 5000, True), ("linux", 5000, False), ("darwin", 5001, False), ("win32", 5000, False)],
)
def test_airplay_hint_only_on_macos_port_5000(platform, port, hint):
    message = str(port_in_use_error(os_error(48), "127.0.0.1", port, lookup=no_holders, platform=platform))
    assert (AIRPLAY in message) is hint
    assert ("System Settings > General > AirDrop & Handoff" in message) is hint


def test_excluded_range_hint_for_wsaeacces():
    message = str(port_in_use_error(os_error(13, winerror=10013), "127.0.0.1", 8000, lookup=no_holders, platform="win32"))
    assert "excludedportrange" in message
    assert "excludedportrange" not in str(port_in_use_error(os_error(98), "127.0.0.1", 8000, lookup=no_holders))


def test_many_holders_and_long_command_lines_stay_readable():
    holders = [Holder(pid, "python " + "x" * 500, 1000, "0.0.0.0", 8000, "proc") for pid in (11, 12, 13, 14, 15)]
    holders.append(Holder(11, "python " + "x" * 500, 1000, "::", 8000, "proc"))  # pid 11 on a second address
    message = port_in_use_message("127.0.0.1", 8000, holders, platform="linux", euid=1000)
    lines = message.splitlines()
    assert len(lines) == 6  # first line, 3 processes, "and 2 more", the remedies
    assert "(on 0.0.0.0:8000, [::]:8000)" in lines[1]
    assert lines[4] == "  and 2 more"
    assert max(len(line) for line in lines[1:4]) < 300
    assert "stop pid 11, 12, 13" in lines[5]


def test_the_holder_may_be_this_process():
    message = port_in_use_message("127.0.0.1", 8000, [Holder(os.getpid(), "python app.py", 0, "127.0.0.1", 8000, "proc")])
    assert "held by pid %d (this process): python app.py" % os.getpid() in message


def test_errors_pickle_with_their_attributes():
    holders = [Holder(1, "a", 2, "127.0.0.1", 8000, "proc")]
    error = pickle.loads(pickle.dumps(PortInUseError(98, "text", "127.0.0.1", 8000, holders)))
    assert (type(error), error.errno, error.strerror, error.host, error.port, error.holders) == (
        PortInUseError, 98, "text", "127.0.0.1", 8000, holders,
    )
    error = pickle.loads(pickle.dumps(BindError(13, "text", "h", 80)))
    assert (type(error), error.errno, error.strerror, error.host, error.port) == (BindError, 13, "text", "h", 80)


# --- bind_error: what portfix.serve() raises ------------------------------------------


def test_bind_error_for_a_busy_port():
    exc, port = bind_twice("127.0.0.1")
    error = bind_error(exc, "127.0.0.1", port, lookup=no_holders)
    assert type(error) is PortInUseError
    assert error.errno == exc.errno


def test_bind_error_for_another_failure_keeps_errno_and_names_the_address():
    exc = os_error(errno.EACCES)
    error = bind_error(exc, "127.0.0.1", 80, lookup=no_holders, platform="linux")
    assert type(error) is BindError and isinstance(error, OSError)
    assert error.errno == errno.EACCES
    assert str(error) == "[Errno %d] cannot bind 127.0.0.1:80: %s" % (errno.EACCES, os.strerror(errno.EACCES))


def test_bind_error_without_errno():
    error = bind_error(OSError("odd"), "h", 1, lookup=no_holders)
    assert error.errno is None
    assert str(error) == "cannot bind h:1: odd"
