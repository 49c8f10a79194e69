"""``portfix check``: start an app on port 0 in a child process, request it.

Without ``--app``, the child imports portfix, then runs a small built-in app
with ``app.run(host="127.0.0.1", port=0)`` (``run_simple`` when Flask is
absent); the parent learns the port from the "Running on" line and GETs
``/``.  With ``--app MODULE:APP`` (or ``MODULE:factory()``) the child boots
the user's own app through its own ``app.run``; the parent learns the port
from the port file and GETs each ``--path``.  Either way the child is stopped
by its pid, whatever happens.
"""

import importlib
import json
import os
import re
import shutil
import tempfile
import time

from ._defects import PORT_FILE_ENV
from ._portfile import read_port_file
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


def _get(host, port, timeout, path="/"):
    from http.client import HTTPConnection

    start = time.monotonic()
    connection = HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
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


# MODULE:NAME or MODULE:NAME() -- a dotted module, an attribute, an optional
# call without arguments (an app factory).
_APP_SPEC = re.compile(r"\A([A-Za-z_][\w.]*):([A-Za-z_]\w*)(\(\))?\Z")


def parse_app_spec(spec):
    """Split ``"MODULE:APP"`` / ``"MODULE:create_app()"``.

    Returns:
        (str, str, bool): module, attribute, whether to call it.

    Raises:
        ValueError: *spec* has another shape; the message names it.
    """
    match = _APP_SPEC.match(spec or "")
    if match is None:
        raise ValueError("--app must be MODULE:APP or MODULE:FACTORY(), got %r" % (spec,))
    return match.group(1), match.group(2), bool(match.group(3))


def run_app(spec):
    """Boot the user's app on an ephemeral loopback port (runs in the child)."""
    import portfix  # noqa: F401 - installs the port file hook, and the fixes

    module_name, attribute, call = parse_app_spec(spec)
    app = getattr(importlib.import_module(module_name), attribute)
    if call:
        app = app()
    if hasattr(app, "run"):
        app.run(host=HOST, port=0)
    else:  # a plain WSGI callable
        from werkzeug.serving import run_simple

        run_simple(HOST, 0, app)


def _wait_port_file(child, path, deadline):
    while True:
        port = read_port_file(path)
        if port is not None:
            return port
        if child.process.poll() is not None:
            raise ChildTimeout("the app exited with code %s before it listened:\n%s"
                               % (child.process.returncode, _tail(child)))
        if time.monotonic() > deadline:
            raise ChildTimeout("no port file after %.0f s:\n%s"
                               % (deadline - child.started, _tail(child)))
        time.sleep(0.05)


def _tail(child, lines=15):
    return "\n".join("    " + line for line in child.output().splitlines()[-lines:])


def check_app(spec, paths=("/",), expect=200, timeout=20.0):
    """Boot ``MODULE:APP`` on an ephemeral port in a child process and GET each path.

    Args:
        spec (str): ``"package.module:app"`` or ``"package.module:create_app()"``,
            imported from the current folder and ``sys.path``.
        paths (sequence of str): URL paths to request, e.g. ``["/health"]``.
        expect (int): the HTTP status every path must answer.
        timeout (float): seconds for the app to listen, and per request.

    Returns:
        dict: ``ok`` (bool), ``app``, ``port`` (int or None), ``error``
        (str or None: crash, timeout, PORTFIX_DISABLE set), ``child_pid``
        (absent when no child was started), and ``paths``: one
        dict per path with ``path``, ``status`` (int or None),
        ``latency_ms`` (float or None), ``ok``, ``error``.

    Raises:
        ValueError: *spec* or a path is malformed (before any child starts).
    """
    parse_app_spec(spec)
    for path in paths:
        if not path.startswith("/"):
            raise ValueError("--path must start with '/', got %r" % (path,))
    result = {"ok": False, "app": spec, "port": None, "error": None, "paths": [], "expect": expect}
    from ._control import disabled

    if disabled():  # the child would write no port file: say so now, start nothing
        result["error"] = "PORTFIX_DISABLE is set: the app's portfix writes no port file to learn the port from"
        return result
    folder = tempfile.mkdtemp(prefix="portfix-check-")
    port_file = os.path.join(folder, "port")
    env = {PORT_FILE_ENV: port_file, "FLASK_RUN_FROM_CLI": None, "PYTHONPATH": _pythonpath()}
    try:
        # A script file, not -c: a reloader (DEBUG in the app's config)
        # re-executes sys.argv.
        script = os.path.join(folder, "run_app.py")
        with open(script, "w") as f:
            f.write("import sys\nfrom portfix._check import run_app\nrun_app(sys.argv[1])\n")
        with Child([script, spec], env=env) as child:
            result["child_pid"] = child.pid
            try:
                port = result["port"] = _wait_port_file(child, port_file, child.started + timeout)
                for path in paths:
                    row = {"path": path, "status": None, "latency_ms": None, "ok": False, "error": None}
                    try:
                        status, _, latency = _get(HOST, port, timeout, path)
                        row.update(status=status, latency_ms=round(latency, 2), ok=status == expect)
                    except (OSError, ValueError) as exc:
                        row["error"] = "%s: %s" % (type(exc).__name__, exc)
                    result["paths"].append(row)
                result["ok"] = all(row["ok"] for row in result["paths"])
            except ChildTimeout as exc:
                result["error"] = str(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def _pythonpath():
    """The child imports the app from the current folder, as ``flask run`` does."""
    parts = [os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(parts)


def format_app_result(result, as_json=False):
    if as_json:
        return json.dumps(result, sort_keys=True)
    lines = ["portfix check --app %s: %s" % (result["app"], "port %s" % result["port"] if result["port"] else "no port")]
    if result["paths"]:
        rows = [("path", "status", "latency ms", "")]
        for row in result["paths"]:
            rows.append((
                row["path"],
                "-" if row["status"] is None else str(row["status"]),
                "-" if row["latency_ms"] is None else "%.1f" % row["latency_ms"],
                "ok" if row["ok"] else "FAILED (expected %d)%s" % (
                    result["expect"], ": " + row["error"] if row["error"] else ""),
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    if result["error"]:
        lines.append("FAILED: %s" % result["error"])
    lines.append("ok" if result["ok"] else "FAILED")
    return "\n".join(lines)
