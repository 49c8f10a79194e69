"""``portfix who PORT``: who listens on a TCP port, on any release and any server.

The "Address already in use" step that Flask's documentation hands to
``netstat``/``lsof``, in one command: the lookup behind ``PortInUseError``
(``_holder.find_holders``), given more time, with pid, user, address and the
command line (escaped: it comes from another process).
"""

import json
import os

from ._errors import _endpoint, _user
from ._holder import find_holders
from ._text import escape
from ._wait import LOOPBACK, accepts

LOOKUP_TIMEOUT = 2.0  # seconds: someone waits at a terminal, not a failed bind


def _user_name(uid):
    try:
        import pwd  # not on Windows

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError, OverflowError, TypeError):
        return None


def _probe_hosts(host):
    """The loopback addresses to connect to when no process was found, or ()."""
    if host in (None, "", "*", "localhost", "0.0.0.0", "::"):
        return LOOPBACK
    bare = host.strip("[]")
    return (bare,) if bare in LOOPBACK or bare.startswith("127.") else ()


def who(port, host=None, timeout=LOOKUP_TIMEOUT):
    """Find who listens on TCP *port*.

    Args:
        port (int): 1-65535.
        host (str or None): as ``find_holders``: None for every listener on
            the port, or an address whose conflicting listeners are wanted.
        timeout (float): seconds the process lookup may take.

    Returns:
        dict: ``port``, ``host``, ``holders`` (one dict per process and
        address: ``pid`` and ``cmdline`` (None when not visible), ``uid``,
        ``user`` (a name or None), ``address``, ``port``, ``source``), and
        ``listening``: True when a holder was found, or when no process was
        found but a connection to loopback succeeds (the process is then
        out of sight: another PID namespace, or the lookup ran out of time).

    Raises:
        ValueError: *port* is not an int in 1-65535, naming it.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError("port must be an integer from 1 to 65535, got %r" % (port,))
    holders = [
        {"pid": h.pid, "uid": h.uid, "user": None if h.uid is None else _user_name(h.uid),
         "address": h.address, "port": h.port, "cmdline": h.cmdline, "source": h.source}
        for h in find_holders(host, port, timeout=timeout)
    ]
    listening = bool(holders) or accepts(port, hosts=_probe_hosts(host))
    return {"port": port, "host": host, "holders": holders, "listening": listening}


def _process_text(holder, euid):
    if holder["pid"] is not None:
        return escape(holder["cmdline"]) if holder["cmdline"] else "(command line not readable)"
    if holder["uid"] is not None and holder["uid"] != euid:
        return "(not visible: the process belongs to another user; root can see it)"
    return "(pid not found: the lookup ran out of time, or the process runs in another PID namespace)"


def format_who(result, as_json=False, euid=None):
    """The text ``portfix who`` prints for *result* (from ``who``).

    Args:
        result (dict): as ``who`` returns it.
        as_json (bool): one JSON object instead of a table.
        euid (int or None): our effective uid, default ``os.geteuid()``:
            a pid-less holder of another uid is another user's process.

    Returns:
        str: a table of PID, USER, ADDRESS, COMMAND (command lines escaped),
        or a line saying that nobody listens.
    """
    if as_json:
        return json.dumps(result, sort_keys=True)
    if euid is None and hasattr(os, "geteuid"):
        euid = os.geteuid()
    where = "TCP port %d" % result["port"] + (" (%s)" % escape(result["host"]) if result["host"] else "")
    if not result["holders"]:
        if result["listening"]:
            return ("something accepts connections on %s, but its process was not found "
                    "(another PID namespace, or the lookup ran out of time)" % where)
        return "nobody listens on %s" % where
    rows = [("PID", "USER", "ADDRESS", "COMMAND")]
    for holder in result["holders"]:
        if holder["uid"] is None:
            user = "-"
        else:
            user = _user(holder["uid"])
        rows.append((
            "-" if holder["pid"] is None else str(holder["pid"]),
            user,
            _endpoint(holder["address"], holder["port"]),
            _process_text(holder, euid),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3] for row in rows)
