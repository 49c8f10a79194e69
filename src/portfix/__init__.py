"""portfix: correct port handling for the Flask/Werkzeug development server.

``import portfix`` reads the installed Flask and Werkzeug versions and, only
on releases that are affected, patches ``Flask.run`` and Werkzeug's server
classes and ``run_simple`` so that ``app.run(port=0)`` binds an ephemeral port
chosen by the OS and reports the bound port everywhere.  On fixed releases
(Flask >= 2.0, Werkzeug >= 2.1) it replaces nothing.  ``PORTFIX_DISABLE=1``
turns it off.  Applications import portfix; libraries don't.

Also, on every release: ``serve(app)`` runs a server bound before it returns
(``.port``, ``.url``); ``PORTFIX_PORT_FILE`` makes the process's first dev
server write its port to a file while it listens (``PortFileError`` for a
path that cannot be used); a busy port raises ``PortInUseError`` naming the holder
(Werkzeug < 2.1, and ``serve()``).  See the README.
"""

import logging

from . import _control
from ._control import PatchStatus, apply, disabled, original, revert, status
from ._errors import BindError, PortFileError, PortInUseError
from ._serve import Server, serve

__all__ = [
    "BindError", "PatchStatus", "PortFileError", "PortInUseError", "Server",
    "apply", "original", "revert", "serve", "status", "__version__",
]
__version__ = "0.1.0"

# Tracebacks and reprs name the public path: portfix.PortInUseError.
for _public in (BindError, PortFileError, PortInUseError, PatchStatus, Server):
    _public.__module__ = __name__
del _public

logging.getLogger("portfix").addHandler(logging.NullHandler())

if not disabled():
    try:
        _control._apply()
    except Exception as exc:  # apply() already guards each patch; belt and braces
        logging.getLogger("portfix").warning("portfix: not applied: %r", exc)
