"""A plain WSGI app (no Flask) for ``portfix check --app`` on Werkzeug-only cells.

``/health`` answers 200, ``/broken`` raises (Werkzeug answers 500 and logs
the traceback), anything else 404.
"""

import os


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/health":
        status, body = "200 OK", ("ok %d" % os.getpid()).encode("ascii")
    elif path == "/broken":
        raise RuntimeError("this route fails on purpose")
    else:
        status, body = "404 NOT FOUND", b"not found"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def create_app():
    """A factory, for ``wsgi_app:create_app()``."""
    return app


def crash():
    """A factory that fails, for the crash case."""
    raise RuntimeError("the factory fails on purpose")
