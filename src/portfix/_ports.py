"""Validating and resolving port values; reading the bound port from a socket.

Every patch reads the same helpers, so ``Flask.run``, ``run_simple`` and the
server classes accept and reject exactly the same values.
"""

import operator
import socket

MAX_PORT = 65535
DEFAULT_PORT = 5000  # Flask's default when neither port nor SERVER_NAME gives one

_INET_FAMILIES = (socket.AF_INET, getattr(socket, "AF_INET6", socket.AF_INET))


def validate_port(value):
    """Return *value* as a TCP port number, or raise naming the bad value.

    Args:
        value (int or str): an ``int`` in 0-65535 (0 asks the OS for an
            ephemeral port), or a ``str`` of ASCII decimal digits such as
            ``"8080"`` or ``"0"`` (surrounding whitespace is allowed, as
            ``int()`` allows it).  Other integral types are accepted through
            ``__index__``.

    Returns:
        int: the port, unchanged in value.

    Raises:
        TypeError: *value* is a bool, a float, bytes, None or another
            non-integral type.
        ValueError: *value* is out of 0-65535, or a str that is not decimal
            digits (``""``, ``"abc"``, ``"-1"``, ``"8_080"``, ``"１"``).

    Nothing is ever coerced into another number: ``70000`` is not wrapped to
    ``4464`` (pallets/werkzeug PR #1150 binds through ``getaddrinfo``, which
    truncates), ``1.5`` is not rounded.
    """
    if isinstance(value, bool):
        raise TypeError("port must be an int or a decimal str, not bool: %r" % (value,))
    if isinstance(value, str):
        text = value.strip()
        if not text or not all("0" <= char <= "9" for char in text):
            raise ValueError("port must be a decimal number in 0-%d, got %r" % (MAX_PORT, value))
        try:
            # int() itself, not int(text): str.strip() also drops characters
            # that int() refuses ("0\x1f"), and Flask >= 2.0 calls int(port).
            number = int(value)
        except ValueError:
            raise ValueError("port must be a decimal number in 0-%d, got %r" % (MAX_PORT, value)) from None
    else:
        try:
            number = operator.index(value)
        except TypeError:
            raise TypeError(
                "port must be an int or a decimal str, got %s %r" % (type(value).__name__, value)
            ) from None
    if not 0 <= number <= MAX_PORT:
        raise ValueError("port must be in 0-%d, got %r" % (MAX_PORT, value))
    return number


def server_name_port(server_name):
    """Return the port part of a SERVER_NAME, or None when it has none.

    Args:
        server_name (str or None): Flask's ``SERVER_NAME`` config value, e.g.
            ``"example.com:8080"``, ``"example.com"``, ``"[::1]:8080"``.

    Returns:
        int or None: None for no SERVER_NAME, no ``:``, or an empty port
        (``"example.com:"``), as Flask >= 2.0 treats them.

    Raises:
        TypeError: *server_name* is not a str.
        ValueError: the port part is not a valid port; the message names the
            SERVER_NAME.

    Flask >= 2.0 splits at the first ``:``; a bracketed IPv6 literal is split
    after its ``]`` instead, where Flask >= 2.0 fails with an unrelated
    ``int()`` error and Flask 0.x (``rsplit``) reads the same port.
    """
    if server_name is None or server_name == "":
        return None
    if not isinstance(server_name, str):
        raise TypeError("SERVER_NAME must be a str, got %s %r" % (type(server_name).__name__, server_name))
    if server_name.startswith("["):
        _, _, rest = server_name.partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        _, _, port_text = server_name.partition(":")
    if not port_text:
        return None
    try:
        return validate_port(port_text)
    except ValueError:
        raise ValueError("SERVER_NAME %r has an invalid port %r" % (server_name, port_text)) from None


def resolve_port(port, server_name):
    """Resolve ``Flask.run``'s port exactly as Flask >= 2.0 does.

    Args:
        port (int, str or None): the ``port`` argument; ``0`` and ``"0"``
            count as given.
        server_name (str or None): the app's ``SERVER_NAME``.

    Returns:
        int: *port* when given; else SERVER_NAME's port when it has one;
        else 5000.

    Raises:
        TypeError, ValueError: as ``validate_port`` and ``server_name_port``.
        A given *port* is validated even when it would not be used, so bad
        input is reported before anything binds.
    """
    if port is not None:
        return validate_port(port)
    from_server_name = server_name_port(server_name)
    return DEFAULT_PORT if from_server_name is None else from_server_name


def bound_port(sock):
    """Return the port *sock* is bound to, or None for non-TCP/IP sockets.

    Args:
        sock (socket.socket): a bound socket (an SSL-wrapped one too).

    Returns:
        int or None: read from ``getsockname()``, never from the value that
        was asked for; None for AF_UNIX or a socket that cannot tell.
    """
    try:
        if sock.family not in _INET_FAMILIES:
            return None
        address = sock.getsockname()
    except (AttributeError, OSError):
        return None
    # An (ip, port[, flowinfo, scope_id]) tuple; anything else (an AF_UNIX
    # path read through a socket object made for another family) has no port.
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
        return address[1]
    return None
