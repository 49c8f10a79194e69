"""The Werkzeug patches (Werkzeug < 2.1): the server classes and ``run_simple``.

* ``BaseWSGIServer.__init__``: validate the port before binding, then report
  the bound port (read from the socket) in ``.port``, ``.server_port`` and
  ``.server_address``, in the plain path and in the fd path the reloader
  worker uses.  Patching the class reaches every server: those from
  ``make_server``, those built directly, and those from a ``make_server``
  imported before portfix was.
* ``run_simple``: validate the port before anything binds; make the
  "Running on" line show the bound port; keep the port across reloads.
* ``werkzeug._reloader.run_with_reloader`` (0.11.0-0.11.2 only): announce the
  port in the reloader parent, which binds the socket and said nothing.

Each replacement does only what its ``active`` set asks for: defect ids
(``"D9"``...) and the features that are on (``"port-file"``,
``"port-in-use"``, ``"exclusive-bind"``...; see ``FEATURES`` in
``_defects``).  On fixed releases a feature is the only thing it does.
"""

import functools
import inspect
import logging
import os
import socket
import threading

from ._defects import FEATURES
from ._ports import bound_port, validate_port

# Set in the reloader parent on Werkzeug <= 0.10 (D10): the port every worker
# binds, picked once.  Werkzeug >= 0.11 passes the socket itself instead.
RELOADER_PORT_ENV = "PORTFIX_RELOADER_PORT"

# A patch installed for a defect or an always-on feature (Werkzeug < 2.1, the
# patched line) validates ports, so that run_simple, make_server and the server
# classes accept the same values there.  One installed only for an opt-in
# feature (the port file, the exclusive bind: fixed releases too) does not.
_OPT_IN = frozenset(f.id for f in FEATURES if f.enabled_by is not None)

_local = threading.local()
_werkzeug_log = logging.getLogger("werkzeug")


# These patches are built when werkzeug.serving is imported, in every process
# that runs a dev server.  What only a failed bind (``_errors``, 16 KB of
# code) or Windows' exclusive bind (``_bind``) needs is loaded then.
def diagnosed(exc, host, port):
    """``_errors.diagnosed``: the PortInUseError to raise from *exc*, or None."""
    from ._errors import diagnosed

    return diagnosed(exc, host, port)


def use_exclusive_bind(server):
    """``_bind.use_exclusive_bind``: bind *server* with SO_EXCLUSIVEADDRUSE (Windows)."""
    from ._bind import use_exclusive_bind

    use_exclusive_bind(server)


def _is_unix(host):
    return isinstance(host, str) and host.startswith("unix://")


def _running_in_reloader_worker():
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def _inherited_socket():
    """True in a reloader worker serving the socket its parent bound (Werkzeug >= 0.11).

    Its parent wrote the port file already.  A worker that binds its own
    socket (Werkzeug <= 0.10, or Windows) is the process that binds, so it writes.
    """
    return _running_in_reloader_worker() and bool(os.environ.get("WERKZEUG_SERVER_FD"))


def _fd_port(fd):
    """The port of the listening socket with file descriptor *fd*, or None."""
    try:
        sock = socket.fromfd(int(fd), socket.AF_INET, socket.SOCK_STREAM)  # a dup
    except (OSError, ValueError):
        return None
    try:
        # getsockname() decodes by the address's own family, so an AF_INET6
        # socket reads right through this AF_INET object (bound_port checks
        # the address, and an AF_UNIX one gives None).
        return bound_port(sock)
    finally:
        sock.close()


class _DeferStartupLine(logging.Filter):
    """Hold back a "Running on ...:0" record until the server has bound.

    Werkzeug <= 0.10 logs the requested port before it binds (D5).  Inside a
    patched ``run_simple`` call for port 0, the record is kept in this thread
    and re-emitted by the server patch with the bound port, or never when the
    bind fails.
    """

    def filter(self, record):
        if not getattr(_local, "defer_startup_line", False):
            return True
        args = record.args
        if str(record.msg).startswith(" * Running on") and isinstance(args, tuple) and len(args) > 2 and args[2] == 0:
            _local.startup_record = record
            return False
        return True


_defer_filter = _DeferStartupLine()


def _emit_deferred_startup_line(port):
    record = getattr(_local, "startup_record", None)
    if record is None:
        return
    _local.startup_record = None
    _local.defer_startup_line = False
    args = list(record.args)
    args[2] = port
    record.args = tuple(args)
    _werkzeug_log.handle(record)


def _announce(hostname, port, ssl_context):
    """Log the "Running on" line the way Werkzeug >= 0.11.3 words it."""
    display = hostname if hostname not in ("", "*") else "localhost"
    if ":" in display:
        display = "[%s]" % display
    scheme = "http" if ssl_context is None else "https"
    import werkzeug.serving

    log = getattr(werkzeug.serving, "_log", None)
    message = " * Running on %s://%s:%d/ (Press CTRL+C to quit)"
    if log is not None:
        log("info", message, scheme, display, port)
    else:
        _werkzeug_log.info(message, scheme, display, port)


def _pick_reloader_port(hostname):
    """Ask the OS for an ephemeral port for a Werkzeug <= 0.10 reloader.

    Those releases bind anew in every worker, so the port is chosen once in
    the parent and handed to the workers by number.  Another process could
    take it between two workers, as with any fixed port on those releases;
    Werkzeug 0.11 closed that window by passing the socket itself.
    """
    import werkzeug.serving

    family = werkzeug.serving.select_ip_version(hostname, 0)
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.bind((hostname, 0))
        return probe.getsockname()[1]
    finally:
        probe.close()


def make_server_init(original, active):
    """Build the replacement for ``BaseWSGIServer.__init__``.

    The replacement takes the original's arguments (``host``, ``port``, ...).
    Wherever it is patched for more than an opt-in feature (Werkzeug < 2.1)
    it raises TypeError/ValueError naming a bad port
    before the socket binds (not for ``unix://`` hosts, whose port is
    ignored) and reports the bound port.  ``"port-in-use"`` turns EADDRINUSE
    into ``PortInUseError``; ``"port-file"`` claims the port file before the
    bind and publishes it once the socket listens (``_portfile``); ``"exclusive-bind"`` binds with SO_EXCLUSIVEADDRUSE
    (Windows).
    """
    fix_port = bool(active - _OPT_IN)
    diagnose = "port-in-use" in active
    port_file = _portfile_module() if "port-file" in active else None
    exclusive = "exclusive-bind" in active

    def bind(self, host, port, args, kwargs, claim):
        try:
            original(self, host, port, *args, **kwargs)
        except OSError as exc:
            error = diagnosed(exc, host, port) if diagnose else None
            if error is not None:
                raise error from exc
            raise
        bound = bound_port(self.socket)
        if bound is None:
            return
        if fix_port:
            # D7 (no .port before 0.11), D8 (.port == 0 in 0.11), D9 (fd path:
            # the throwaway socket's port until 2.1, pallets/werkzeug #2287).
            self.port = bound
            self.server_port = bound
            self.server_address = self.socket.getsockname()
            _emit_deferred_startup_line(bound)
        if claim is not None:
            try:
                claim.publish(bound, self)
            except BaseException:
                self.server_close()  # the caller gets no server: free the port
                raise

    @functools.wraps(original)
    def __init__(self, host, port, *args, **kwargs):
        if fix_port and not _is_unix(host):
            port = validate_port(port)
        if exclusive:
            use_exclusive_bind(self)
        if port_file is None:
            return bind(self, host, port, args, kwargs, None)
        # Claimed before the bind: a path that cannot be used is refused
        # before any socket binds.  A reloader worker serving its parent's
        # socket leaves the file to the parent.
        with port_file.claiming(until_return=False, skip=_inherited_socket() or _is_unix(host)) as claim:
            bind(self, host, port, args, kwargs, claim)

    return __init__


def make_run_simple(original, active):
    """Build the replacement for ``run_simple``.

    The replacement has the original's signature.  Where it is patched for
    more than an opt-in feature (Werkzeug < 2.1) it raises TypeError or
    ValueError naming a bad port before anything binds (D11: port 70000
    would bind 4464 on Werkzeug >= 0.14).  With ``"port-file"`` it claims
    the port file before anything binds (``PortFileError`` for a path that
    cannot be used) and withdraws it when serving ends; with the reloader
    the parent owns it across reloads.
    """
    signature = inspect.signature(original)
    fix_port = bool(active - _OPT_IN)
    defer_line = "D5" in active
    keep_port = "D10" in active
    # Werkzeug <= 0.10 (D10): each reloader worker binds for itself, so the
    # workers publish the port file and the parent withdraws it at its exit.
    workers_bind = "D10" in active
    diagnose = "port-in-use-reloader" in active
    port_file = _portfile_module() if "port-file" in active else None

    def serve(call, hostname, port, use_reloader, claim):
        if keep_port and use_reloader and port == 0:
            if _running_in_reloader_worker():
                port = validate_port(os.environ.get(RELOADER_PORT_ENV, "0"))
            else:
                port = _pick_reloader_port(hostname)
                os.environ[RELOADER_PORT_ENV] = str(port)
        if claim is not None and workers_bind and use_reloader:
            claim.leave_to_workers(port)
        call.arguments["port"] = port
        _local.defer_startup_line = defer_line and not use_reloader and port == 0
        if use_reloader:  # read by the run_with_reloader patch (D6, the port file)
            _local.reloader_context = (hostname, call.arguments.get("ssl_context"), claim)
        try:
            return original(*call.args, **call.kwargs)
        except OSError as exc:
            # From 0.11 the reloader parent binds in run_simple itself.
            error = diagnosed(exc, hostname, port) if diagnose else None
            if error is not None:
                raise error from exc
            raise
        finally:
            _local.defer_startup_line = False
            _local.startup_record = None
            _local.reloader_context = None

    @functools.wraps(original)
    def run_simple(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        hostname = call.arguments["hostname"]
        if _is_unix(hostname):
            return original(*call.args, **call.kwargs)
        port = validate_port(call.arguments["port"]) if fix_port else call.arguments["port"]
        use_reloader = call.arguments.get("use_reloader")
        if port_file is None:
            return serve(call, hostname, port, use_reloader, None)
        with port_file.claiming(until_return=True) as claim:
            return serve(call, hostname, port, use_reloader, claim)

    if defer_line:
        _werkzeug_log.addFilter(_defer_filter)
        run_simple.portfix_undo = lambda: _werkzeug_log.removeFilter(_defer_filter)
    return run_simple


def make_run_with_reloader(original, active):
    """Build the replacement for ``werkzeug._reloader.run_with_reloader``.

    In the reloader parent, which bound the socket it passes to the workers
    in ``WERKZEUG_SERVER_FD`` (Werkzeug 0.11-2.0), it logs the "Running on"
    line (D6, when called from a patched ``run_simple``) and publishes the
    port file that ``run_simple`` claimed (``"port-file-reloader"``), once,
    then delegates.
    """
    announce = "D6" in active
    port_file = "port-file-reloader" in active

    @functools.wraps(original)
    def run_with_reloader(*args, **kwargs):
        fd = os.environ.get("WERKZEUG_SERVER_FD")
        context = getattr(_local, "reloader_context", None)
        if fd and context is not None and not _running_in_reloader_worker():
            hostname, ssl_context, claim = context
            port = _fd_port(fd)
            if port is not None:
                if announce:
                    _announce(hostname, port, ssl_context)
                if port_file and claim is not None and claim.in_progress():
                    claim.publish(port)
        return original(*args, **kwargs)

    return run_with_reloader


def _portfile_module():
    """``_portfile``, imported when a port-file patch is built (never otherwise)."""
    from . import _portfile

    return _portfile
