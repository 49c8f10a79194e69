"""``portfix check``: start a small app on port 0 in a child process, request it.

The child imports portfix, then runs ``app.run(host="127.0.0.1", port=0)``
with the installed Flask (``run_simple`` when Flask is absent).  The parent
learns the port from the "Running on" line, GETs ``/``, reports port, status
and latency, and stops the child by its pid.
"""

import json
import time

from ._process import RUNNING_ON, Child, ChildTimeout

HOST = "127.0.0.1"
BODY = b"portfix check ok"

_CHILD = "from portfix._check import serve_builtin_app; serve_builtin_app()"


def _wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def serve_builtin_app():
    """Run the check's app on an ephemeral loopback port (runs in the child)."""
    import portfix  # noqa: F401 - the point of the check

    try:
        from flask import Flask
    except ImportError:
        from werkzeug.serving import run_simple

        run_simple(HOST, 0, _wsgi_app)
        return
    app = Flask("portfix_check")
    app.add_url_rule("/", "index", lambda: BODY)
    app.run(host=HOST, port=0)


def _ephemeral(port):
    """False for Flask's default 5000, or outside Linux's ephemeral range when known."""
    if port == 5000:
        return False
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(n) for n in f.read().split())
    except (OSError, ValueError):
        return True
    return low <= port <= high


def _get(host, port, timeout):
    from http.client import HTTPConnection

    start = time.monotonic()
    connection = HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return response.status, body, (time.monotonic() - start) * 1000.0


def check(timeout=20.0):
    """Run the smoke test.

    Args:
        timeout (float): seconds allowed for the child to announce its port,
            and for the request.

    Returns:
        dict: ``ok`` (bool), ``port`` (int or None), ``status`` (int or None),
        ``latency_ms`` (float or None), ``error`` (str or None),
        ``child_pid`` (int).
    """
    import portfix

    patched = [r.defect for r in portfix.status() if r.applied]
    result = {"ok": False, "port": None, "status": None, "latency_ms": None, "error": None, "patched": patched}
    with Child(["-c", _CHILD]) as child:
        result["child_pid"] = child.pid
        try:
            match = child.wait_for(RUNNING_ON, timeout)
            result["port"] = port = int(match.group(3))
            if port == 0 or not _ephemeral(port):
                raise ValueError(
                    "asked for port 0 but the server announced %d, not an OS-chosen ephemeral "
                    "port (is PORTFIX_DISABLE set?)" % port
                )
            status, body, latency = _get(HOST, port, timeout)
            result.update(status=status, latency_ms=round(latency, 2))
            if status != 200 or body != BODY:
                raise ValueError("GET / answered %s %r" % (status, body[:80]))
            result["ok"] = True
        except (ChildTimeout, ValueError, OSError) as exc:
            result["error"] = "%s: %s" % (type(exc).__name__, exc)
    return result


def format_result(result, as_json=False):
    if as_json:
        return json.dumps(result, sort_keys=True)
    if result["ok"]:
        return "ok: port %d, GET / -> %d in %.1f ms (patched here: %s)" % (
            result["port"], result["status"], result["latency_ms"], ", ".join(result["patched"]) or "nothing")
    return "FAILED: %s" % result["error"]
