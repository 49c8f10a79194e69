"""Binding listening sockets: the socket options, and portfix.serve()'s own bind.

Werkzeug's servers (through ``http.server.HTTPServer``) set ``SO_REUSEADDR``
before they bind.  On POSIX that only lets a port in TIME_WAIT be reused; on
Windows it lets a second server bind a port that one already listens on,
silently (pallets/werkzeug#1597, declined upstream).  ``SO_EXCLUSIVEADDRUSE``,
which only Windows has, forbids that.
"""

import socket

LISTEN_BACKLOG = 128  # what Werkzeug's servers ask for


def exclusive_option():
    """Return ``socket.SO_EXCLUSIVEADDRUSE``, or None where it does not exist (POSIX)."""
    return getattr(socket, "SO_EXCLUSIVEADDRUSE", None)


def use_exclusive_bind(server):
    """Make *server* bind with SO_EXCLUSIVEADDRUSE instead of SO_REUSEADDR.

    Args:
        server (socketserver.TCPServer): a server whose ``__init__`` has not
            bound yet.  Only this instance changes: its ``allow_reuse_address``
            and ``server_bind`` are set on the instance, not on the class.

    Does nothing where the option does not exist: on POSIX a listening port
    cannot be bound twice with SO_REUSEADDR anyway.
    """
    option = exclusive_option()
    if option is None:
        return
    bind = type(server).server_bind
    server.allow_reuse_address = False

    def server_bind():
        server.socket.setsockopt(socket.SOL_SOCKET, option, 1)
        bind(server)

    server.server_bind = server_bind


def family_and_address(host, port):
    """Resolve *host* the way Werkzeug's servers do.

    Args:
        host (str): an IP literal or a host name (``"::1"``, ``"localhost"``).
        port (int): a validated port, 0-65535.

    Returns:
        (int, tuple): the address family (AF_INET6 when *host* contains a
        ``:``, else AF_INET) and the socket address to bind.

    Raises:
        OSError: ``socket.gaierror`` when *host* does not resolve.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    info = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    return family, info[0][4]


def listening_socket(host, port, exclusive=False):
    """Bind and listen on *host*:*port*, with the options Werkzeug would use.

    Args:
        host (str): the address to bind; never widened.
        port (int): a validated port; 0 asks the OS for an ephemeral port.
        exclusive (bool): SO_EXCLUSIVEADDRUSE instead of SO_REUSEADDR where
            it exists (Windows).

    Returns:
        socket.socket: bound and listening.

    Raises:
        OSError: from ``getaddrinfo``, ``bind`` or ``listen``; the socket is
            closed then.
    """
    family, address = family_and_address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        option = exclusive_option() if exclusive else None
        if option is not None:
            sock.setsockopt(socket.SOL_SOCKET, option, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
