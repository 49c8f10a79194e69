"""A simulated Windows socket layer, for the exclusive-bind tests (and their child processes).

It stands in for the ``socket`` module where Werkzeug's servers (through
``socketserver``) and portfix's own bind (``portfix._bind.socket``) reach it.
It records every setsockopt() and bind(), has ``SO_EXCLUSIVEADDRUSE``, and
decides a second bind of the same address the way Windows does: allowed
silently when the first socket did not ask for exclusive use (so two dev
servers share a port, pallets/werkzeug#1597), WSAEADDRINUSE (10048) when it
did.  The real bind then happens on Linux.
"""

import socket
import types

WSAEADDRINUSE = 10048
SO_EXCLUSIVEADDRUSE = ~socket.SO_REUSEADDR  # its value in Windows' headers


class SharedSilently(Exception):
    """Windows would have let this second socket bind the port: no error at all."""


def windows_layer():
    calls, bound = [], {}  # bound: port -> was it bound exclusively

    class WindowsSocket(socket.socket):
        def setsockopt(self, level, option, value):
            calls.append(("setsockopt", level, option, value))
            if option == SO_EXCLUSIVEADDRUSE:
                self._exclusive = True
                return None  # Linux has no such option; the layer keeps the state
            return super(WindowsSocket, self).setsockopt(level, option, value)

        def bind(self, address):
            calls.append(("bind", address[1]))
            port = address[1]
            if port in bound:
                if bound[port]:
                    error = OSError(WSAEADDRINUSE, "Only one usage of each socket address is normally permitted")
                    error.winerror = WSAEADDRINUSE
                    raise error
                raise SharedSilently(port)
            super(WindowsSocket, self).bind(address)
            bound[self.getsockname()[1]] = getattr(self, "_exclusive", False)

    layer = types.ModuleType("socket")
    layer.__dict__.update(socket.__dict__)
    layer.socket = WindowsSocket
    layer.SO_EXCLUSIVEADDRUSE = SO_EXCLUSIVEADDRUSE
    return layer, calls
