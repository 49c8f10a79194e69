"""``portfix.serve()``: a WSGI app served from a thread, bound before it returns.

No Flask or Werkzeug release tells code which port it bound (uvicorn#761 and
pallets/flask#4205 asked); harnesses bind a socket to port 0, close it and
start the server on that number, which races under parallel workers.  Here
the socket is bound in the constructor and the port is read from it.

Each handle's thread sleeps in the kernel until a connection or ``stop()``
wakes it: an idle handle costs no CPU, and ``stop()`` returns as soon as the
loop has seen it.
"""

import selectors
import socket
import threading

from ._errors import BindError, bind_error

# socketserver's own choice: poll() has no FD_SETSIZE limit (1024 on Linux),
# select() is what Windows has.  Neither uses a descriptor of its own.
_Selector = getattr(selectors, "PollSelector", selectors.SelectSelector)
# How often the loop reaps finished worker processes (processes > 1), and
# only while there are some.
_REAP_INTERVAL = 0.5  # seconds, socketserver's default poll interval


def _url_host(address):
    host = address[0]
    return "[%s]" % host if ":" in host else host


class Server(object):
    """A running dev server for *app*, returned by ``portfix.serve()``.

    Attributes:
        host (str): the host that was asked for.
        port (int): the bound port, read from the listening socket.
        server_address (tuple): the socket's own address, ``(ip, port)`` or
            ``(ip, port, flowinfo, scope_id)`` for IPv6.
        url (str): ``"http://IP:PORT/"`` (``https`` with an ``ssl_context``);
            IPv6 addresses in brackets.
        server (werkzeug.serving.BaseWSGIServer): the Werkzeug server.
            Its ``shutdown()`` stops the loop, as socketserver's does.
        thread (threading.Thread): the daemon thread running its loop.
    """

    def __init__(self, app, host="127.0.0.1", port=0, threaded=True, **options):
        # Imported here, as in _make_server: `import portfix` stays cheap.
        from ._ports import bound_port, validate_port

        port = validate_port(port)
        if not isinstance(host, str) or not host or host.startswith("unix://"):
            raise ValueError("host must be an IP address or a host name, got %r" % (host,))
        if "fd" in options:
            raise TypeError("serve() binds its own socket; fd=%r is not accepted" % (options["fd"],))
        from werkzeug import serving

        self.host = host
        self._lock = threading.Lock()
        self._stopped = False
        from ._portfile import exempt

        # A serve() handle never claims the port file: it reports its port
        # in-process, and must not fail because of the file.
        with exempt():
            self.server = self._make_server(serving, app, host, port, threaded, options)
        self.server_address = self.server.socket.getsockname()
        self.port = bound_port(self.server.socket)
        scheme = "https" if options.get("ssl_context") is not None else "http"
        self.url = "%s://%s:%d/" % (scheme, _url_host(self.server_address), self.port)
        self._ending = False
        self._wakeup = self._woken = None
        try:
            self._wakeup, self._woken = socket.socketpair()  # stop() writes, the loop wakes
            self.server.shutdown = self._end_loop  # socketserver's would wait for a loop that never runs
            self.thread = threading.Thread(target=self._serve, name="portfix-serve-%d" % self.port)
            self.thread.daemon = True
            self.thread.start()
        except BaseException:  # out of descriptors or threads: no handle, so free the port
            self._close()
            raise

    @staticmethod
    def _make_server(serving, app, host, port, threaded, options):
        import inspect

        from ._bind import listening_socket
        from ._control import feature_on

        if "fd" not in inspect.signature(serving.make_server).parameters:
            # Werkzeug <= 0.10 cannot take a socket: let it bind.  It raises
            # OSError itself there (the SystemExit came with 2.1).
            try:
                return serving.make_server(host, port, app, threaded=threaded, **options)
            except BindError:  # the server patch diagnosed it already
                raise
            except OSError as exc:
                raise bind_error(exc, host, port) from exc
        # Bind here, so a failure is an OSError with its errno even on
        # Werkzeug >= 2.1, which prints a hint and raises SystemExit(1)
        # instead (pallets/werkzeug#2687, #2866); then hand the socket over.
        try:
            sock = listening_socket(host, port, exclusive=feature_on("exclusive-bind"))
        except OSError as exc:
            raise bind_error(exc, host, port) from exc
        try:
            # make_server(fd=...) duplicates the descriptor (socket.fromfd).
            return serving.make_server(host, sock.getsockname()[1], app, threaded=threaded, fd=sock.fileno(), **options)
        finally:
            sock.close()

    def _serve(self):
        # Not serve_forever(): it wakes every poll_interval to look for
        # shutdown() (20 times a second here before), and only some Werkzeug
        # releases let that interval be set.  This loop blocks until the
        # listening socket or the wakeup socket is readable, and hands each
        # connection to the server's own request handling.
        server = self.server
        try:
            with _Selector() as selector:
                selector.register(server, selectors.EVENT_READ)
                selector.register(self._woken, selectors.EVENT_READ)
                while not self._ending:
                    reaping = getattr(server, "active_children", None)  # ForkingMixIn's workers
                    ready = selector.select(_REAP_INTERVAL if reaping else None)
                    if self._ending:
                        break
                    if any(key.fileobj is server for key, _ in ready):
                        server._handle_request_noblock()  # accept, then process_request
                    server.service_actions()
        except Exception:  # the socket was closed under the loop by a stop that timed out
            if not self._ending:
                raise

    def _end_loop(self, timeout=None):
        """End the serving loop and wait for it (``server.shutdown()`` too).

        Args:
            timeout (float or None): seconds to wait; None waits as long as
                a request the loop is handling takes (threaded=False).
        """
        self._ending = True
        try:
            self._wakeup.send(b"\0")
        except OSError:  # closed: the loop has ended already
            pass
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def stop(self, timeout=5.0):
        """Stop serving and close the listening socket; the port is free after.

        Idempotent and thread-safe: later calls return at once.  Requests
        being handled in their own threads (``threaded=True``) finish on
        their connections; with ``threaded=False`` a request in progress
        delays the return by up to *timeout*.

        Args:
            timeout (float): seconds to wait for the serving thread to end.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._end_loop(timeout)
        self._close()

    def _close(self):
        """Close the listening socket and the wakeup pair."""
        self.server.server_close()
        for sock in (self._wakeup, self._woken):
            if sock is not None:
                sock.close()

    @property
    def stopped(self):
        """bool: True once ``stop()`` was called."""
        return self._stopped

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return "<portfix.Server %s%s>" % (self.url, " stopped" if self._stopped else "")


def serve(app, host="127.0.0.1", port=0, threaded=True, **options):
    """Serve a WSGI *app* from a daemon thread; return once the socket listens.

    Args:
        app (callable): any WSGI application (a Flask app too).
        host (str): the address to bind (default loopback ``"127.0.0.1"``;
            ``"::1"`` for IPv6).  Never widened.
        port (int or str): 0 (default) for an OS-chosen ephemeral port, or a
            port in 1-65535; validated as ``Flask.run``'s port is.
        threaded (bool): one thread per request (default True).
        **options: passed to ``werkzeug.serving.make_server``:
            ``processes``, ``request_handler``, ``passthrough_errors``,
            ``ssl_context``.

    Returns:
        Server: running; ``.port``, ``.url``, ``.server_address``;
        ``stop()`` or ``with`` to stop it.

    Raises:
        TypeError, ValueError: a bad port or host, before anything binds.
        PortInUseError: the port is taken (an OSError with errno EADDRINUSE),
            on every Werkzeug release: never SystemExit.
        BindError: another bind failure (an OSError with its errno).
    """
    return Server(app, host=host, port=port, threaded=threaded, **options)

