"""``portfix wait PATH``: wait until a port file names a port that accepts connections.

What a harness script needs next to ``portfix run --port-file PATH ... &``:
the port, once the server really listens, or a reason why not.
"""

import os
import socket
import time

from ._portfile import read_port_file
from ._text import escape

POLL_INTERVAL = 0.05  # seconds between two looks at the file
CONNECT_TIMEOUT = 0.5  # seconds per connection attempt
LOOPBACK = ("127.0.0.1", "::1")


def accepts(port, timeout=CONNECT_TIMEOUT, hosts=LOOPBACK):
    """Tell whether a TCP connection to *port* on loopback succeeds.

    Args:
        port (int): the TCP port.
        timeout (float): seconds per address tried.
        hosts (sequence of str): the addresses to try, in order; by default
            ``127.0.0.1``, then ``::1`` (a server bound to ``::1`` only).

    Returns:
        bool: True as soon as one address accepts.  The connection is
        closed at once, before any request.
    """
    for host in hosts:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 here
            continue
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
            return True
        except OSError:
            continue
        finally:
            sock.close()
    return False


def look(path):
    """Look at the port file once.

    Returns:
        (int or None, str): the port when the file names one that accepts
        connections on loopback, else None and what was seen, in words.
    """
    shown = escape(path)
    try:
        os.lstat(path)
    except FileNotFoundError:
        return None, "no file at %s" % shown
    except OSError as exc:
        return None, "cannot look at %s: %s" % (shown, exc.strerror or exc)
    port = read_port_file(path)
    if port is None:
        return None, "%s is not a port file (it should hold a port number and a newline)" % shown
    if accepts(port):
        return port, None
    return None, "the file names port %d but nothing accepts connections there: a stale port file?" % port


def wait_for_port(path, timeout):
    """Wait until the port file at *path* names a port that accepts connections.

    Args:
        path (str): the port file (``PORTFIX_PORT_FILE`` of the server).
        timeout (float): seconds to wait, >= 0; the file is looked at at
            least once.

    Returns:
        (int or None, str or None): the port and None, or None and what was
        seen last (no file; not a port file; a port nothing accepts on).
    """
    deadline = time.monotonic() + timeout
    while True:
        port, seen = look(path)
        if port is not None:
            return port, None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, seen
        time.sleep(min(POLL_INTERVAL, remaining))
