"""``portfix check``: start an app on port 0 in a child process, request it.

Without ``--app``, the child (``_check_child``) imports portfix, says which
defects portfix patched there, then runs a small built-in app with
``app.run(host="127.0.0.1", port=0, use_reloader=False)`` (``run_simple``
when Flask is absent); the parent learns the port from the "Running on" line
and GETs ``/``.  The parent imports neither Flask nor Werkzeug for it, and
``portfix check`` without options starts that child before it even reads its
arguments (``start_early``).  With ``--app MODULE:APP`` (or
``MODULE:factory()``) the child boots the user's own app, imported from the
current folder (given to it as an argument, so any folder name works),
through its own ``app.run``; the parent learns the port from a port file in
a private temporary folder and GETs each ``--path``.

Whatever happens the child is stopped by its pid and the folder removed (before
the child is stopped, so that a check killed meanwhile leaves none):
one deadline (``timeout``) bounds the whole check, body reads included; the
child's output is kept as a bounded tail and shown through ``escape()``;
the CLI runs the check under ``_process.stop_on_signals()`` (SIGINT, SIGTERM,
SIGHUP) and the child holds a lifeline, so it dies with its whole process
group if the parent is killed.  The caller's ``PORTFIX_PORT_FILE`` is never
passed on: a child's port file is its own, in the private folder, or none.
"""

import os
import re
import sys
import time

# What only --app, the JSON report or a request needs (json, shutil,
# tempfile, threading, http.client, _portfile) is imported where it is used:
# the built-in check's parent starts its child before loading any of it.
from ._check_child import BODY, HOST, PATCHED
from ._versions import DISABLE_ENV, PORT_FILE_ENV, kill_switch_off
from ._process import RUNNING_ON, Child, ChildTimeout, end_if_orphaned, hold_lifeline, shielded
from ._text import describe, escape

MAX_TIMEOUT = 86400.0  # one day: longer waits overflow some of the platform's timers
SHOWN_LINES = 20  # lines of the child's output shown with a failure
_BODY_KEPT = 4096  # bytes of a response body kept (the rest is read and dropped)
_CLOSE_WAIT = 1.0  # seconds a 5xx's connection may take to close (its log comes before)
_SETTLE = 0.5  # seconds for the child's output pipe to drain into the tail
_REPORT_MAX = 65536  # bytes read of the child's error report
_REPORT_EXIT = 3  # the child's exit code after it wrote an error report
_PORT_FILE_POLL = 0.05  # seconds between two looks for the port file when the child prints nothing

# Inherited from the caller, these would make the child write the caller's
# port file (and remove it at exit), skip serving (FLASK_RUN_FROM_CLI) or act
# as a reloader worker on someone else's socket (WERKZEUG_*).
_NOT_PASSED_ON = ("FLASK_RUN_FROM_CLI", "WERKZEUG_RUN_MAIN", "WERKZEUG_SERVER_FD")

_CHILD = "from portfix._check_child import main; main()"


# -- the values given on the command line ------------------------------------


def valid_timeout(value):
    """Return *value* as seconds.

    Args:
        value (float or str): e.g. ``20`` or ``"2.5"``.

    Returns:
        float: the seconds, finite, > 0 and at most ``MAX_TIMEOUT`` (86400).

    Raises:
        ValueError: anything else (``nan``, ``inf``, ``1e308``, ``0``, ``-1``,
            not a number), naming the value.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or not 0 < seconds <= MAX_TIMEOUT:  # nan fails every comparison
        raise ValueError("timeout must be a number of seconds > 0 and at most %d, got %r" % (MAX_TIMEOUT, value))
    return seconds


# An absolute path of printable ASCII without spaces: what goes on the
# request line unchanged.  http.client refuses the rest (InvalidURL,
# UnicodeEncodeError) or would send it as something else.
_PATH = re.compile(r"\A/[\x21-\x7e]*\Z")


def valid_path(value):
    """Return *value*, a URL path to GET, e.g. ``"/health?full=1"``.

    Raises:
        ValueError: it does not start with ``/``, or holds whitespace, a
            control character or non-ASCII text (percent-encode those: ``%20``);
            the message names the value.
    """
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError("a path must start with '/', got %r" % (value,))
    if not _PATH.match(value):
        raise ValueError("a path must be printable ASCII without spaces or control characters "
                         "(percent-encode them, e.g. %%20), got %r" % (value,))
    return value


def valid_status(value):
    """Return *value* as an HTTP status (int, 100-599); ValueError naming it otherwise."""
    try:
        status = int(value)
    except (TypeError, ValueError):
        status = None
    if status is None or not 100 <= status <= 599:
        raise ValueError("an expected status must be an HTTP status 100-599, got %r" % (value,))
    return status


def pair_expectations(paths, expect):
    """Pair each path with its expected status.

    Args:
        paths (list of str): the paths, in order.
        expect (int or list of int): one status for every path, or one per
            path in the same order.

    Returns:
        list of int: one status per path.

    Raises:
        ValueError: a bad status, or as many statuses as neither 1 nor the
            number of paths.
    """
    expects = [valid_status(e) for e in ([expect] if isinstance(expect, (int, str)) else list(expect))]
    if len(expects) == 1:
        return expects * len(paths)
    if len(expects) == len(paths):
        return expects
    raise ValueError("--expect given %d times for %d --path: give it once (for every path) or once per "
                     "--path, paired in order" % (len(expects), len(paths)))


def cli_type(validator):
    """*validator* as an argparse ``type=``: its ValueError becomes a usage error (exit 2)."""
    import argparse

    def convert(text):
        try:
            return validator(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc))

    convert.__name__ = validator.__name__
    return convert


# -- the built-in check ------------------------------------------------------


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


def _disabled_error():
    """The message when the kill switch is set, or None."""
    if kill_switch_off(os.environ):
        return None  # what disabled() says too, without loading _control and the gate
    from ._control import disabled

    if not disabled():
        return None
    return ("%s=%s is set: portfix is switched off (its kill switch), so there is nothing of it to check; "
            "unset %s to run the check" % (DISABLE_ENV, escape(repr(os.environ.get(DISABLE_ENV))), DISABLE_ENV))


def _start_child():
    env = dict.fromkeys((PORT_FILE_ENV,) + _NOT_PASSED_ON)
    return Child(["-c", _CHILD], env=env, lifeline=True)


def start_early():
    """Start the built-in check's child now, before the caller loads anything else.

    For ``portfix check`` given no option at all, whose arguments can only
    mean the built-in check with its defaults: the CLI calls this first
    (under ``stop_on_signals()``), reads its arguments while the child starts,
    and hands the child to ``check(child=...)``.

    Returns:
        Child or None: None when ``check()`` would start no child: the kill
        switch is set to anything but an "off" value (``check()`` then says so,
        and warns about an odd value), or the current folder is gone.
    """
    if not kill_switch_off(os.environ):
        return None
    try:
        _current_folder()
    except ValueError:
        return None
    return _start_child()


def check(timeout=20.0, child=None):
    """Run the smoke test.

    Args:
        timeout (float): seconds for the whole check: the child starting,
            announcing its port, and the request with its body.
        child (Child or None): the child ``start_early()`` started; the
            timeout counts from its start.  None: start it here.  Stopped
            on the way out either way.

    Returns:
        dict: ``ok`` (bool), ``port`` (int or None), ``status`` (int or None),
        ``latency_ms`` (float or None), ``error`` (one-line str or None),
        ``error_kind`` (None, ``"disabled"``, ``"crash"``, ``"timeout"`` or
        ``"failed"``), ``output`` (list of str: the child's last lines,
        escaped, on failure), ``patched`` (list of str: what portfix patched
        in the child, as its ``portfix.status()`` said; empty when the kill
        switch is set; None when the child ended or the time ran out before
        it said) and ``child_pid`` (int; absent when no child was started).

    Raises:
        ValueError: *timeout* is not a finite number > 0 (at most 86400), or
            the current folder is gone (before any child starts).
    """
    try:
        timeout = valid_timeout(timeout)
        result = {"ok": False, "port": None, "status": None, "latency_ms": None, "error": None,
                  "error_kind": None, "output": [], "patched": None}
        disabled = _disabled_error()
        if disabled:  # at once, with no child: a check of nothing would mislead
            result.update(error=disabled, error_kind="disabled", patched=[])
            if child is not None:  # one start_early() started before the switch was set
                child.stop()
            return result
        if child is None:
            _current_folder()  # the child starts there: Flask and even imports fail in a deleted one
            deadline = time.monotonic() + timeout
            child = _start_child()
        else:
            deadline = child.started + timeout
    except BaseException:
        if child is not None:
            child.stop()
        raise
    with child:
        result["child_pid"] = child.pid
        # Loaded while the child starts, not after it answers.
        from http.client import HTTPException

        try:
            try:
                patched = child.wait_for(PATCHED, deadline - time.monotonic())
                result["patched"] = [name for name in patched.group(1).split(",") if name]
                match = child.wait_for(RUNNING_ON, deadline - time.monotonic())
            except ChildTimeout:
                raise _Failed(*_not_listening(child, timeout, "no 'Running on' line"))
            result["port"] = port = int(match.group(3))
            if port == 0 or not _ephemeral(port):
                raise _Failed("failed", "asked for port 0 but the server announced %d, not an OS-chosen "
                                        "ephemeral port" % port)
            status, body, latency = _get(HOST, port, "/", deadline)
            result.update(status=status, latency_ms=round(latency, 2))
            if status != 200 or body != BODY:
                raise _Failed("failed", "GET / answered %s %s" % (status, escape(repr(body[:80]))))
            result["ok"] = True
        except _Expired as exc:
            result.update(error=_timed_out(exc, timeout), error_kind="timeout")
        except _Failed as exc:
            result.update(error=exc.message, error_kind=exc.kind)
        except (OSError, ValueError, HTTPException) as exc:
            result.update(error=describe(exc), error_kind="failed")
        if not result["ok"]:
            child.settle(_SETTLE)
            result["output"] = child.tail(SHOWN_LINES)
    return result


def format_result(result, as_json=False):
    if as_json:
        import json

        return json.dumps(result, sort_keys=True)
    if result["ok"]:
        return "ok: port %d, GET / -> %d in %.1f ms (patched here: %s)" % (
            result["port"], result["status"], result["latency_ms"], ", ".join(result["patched"]) or "nothing")
    return "\n".join(["FAILED: %s" % result["error"]] + _output_lines(result.get("output")))


def _output_lines(lines):
    """The child's last lines (already escaped), under a title, for the text report."""
    if not lines:
        return []
    return ["the app's last lines of output:"] + ["    " + line for line in lines]


class _Failed(Exception):
    """The check failed: *kind* (see check_app), a one-line *message*."""

    def __init__(self, kind, message, traceback=None):
        Exception.__init__(self, message)
        self.kind, self.message, self.traceback = kind, message, traceback


def _not_listening(child, timeout, what):
    """(kind, message) when the child did not come to listen: it exited, or the time ran out."""
    if child.process.poll() is not None:
        return "crash", "the app exited with code %s before it listened" % child.process.returncode
    return "timeout", "%s after %g s (--timeout)" % (what, timeout)


# -- requests, bounded by one deadline ---------------------------------------


class _Expired(Exception):
    """The check's deadline passed during a request (arguments: its path, the status or None)."""


def _timed_out(exc, timeout):
    return "timed out: GET %s had not finished when --timeout %g s ran out" % (exc.args[0], timeout)


def _abort(sock, expired):
    expired.set()
    try:
        sock.shutdown(2)  # SHUT_RDWR: a blocked connect/send/recv returns at once
    except OSError:
        pass


def _get(host, port, path, deadline):
    """GET *path*; every step, the body included, ends by *deadline* (time.monotonic()).

    A timer shuts the socket down at the deadline, so a server that answers
    one byte a second cannot stretch the check (a socket timeout counts per
    read).  ``Connection: close`` asks the server to close after the
    response; after a 5xx that close is awaited (at most ``_CLOSE_WAIT``
    seconds), since a server may log the error after answering (Werkzeug does
    for an exception in a plain WSGI app).

    Returns:
        (int, bytes, float): status, the first ``_BODY_KEPT`` bytes of the
        body, and the latency in ms (up to the body's end).

    Raises:
        _Expired: the deadline passed.
        OSError, http.client.HTTPException: the exchange failed.
    """
    import threading
    from http.client import HTTPConnection, HTTPException, IncompleteRead

    start = time.monotonic()
    if deadline - start <= 0:
        raise _Expired(path, None)
    connection = HTTPConnection(host, port, timeout=deadline - start)
    expired = threading.Event()
    probe = timer = status = None
    try:
        try:
            connection.connect()
            # A second handle on the same socket: http.client closes its own
            # when the response ends, and the close wait below reads on.
            probe = connection.sock.dup()
            timer = threading.Timer(max(0.0, deadline - time.monotonic()), _abort, (probe, expired))
            timer.daemon = True
            timer.start()
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            status = response.status
            body = bytearray()
            while True:
                chunk = response.read(65536)
                if not chunk:
                    break
                if len(body) < _BODY_KEPT:
                    body += chunk[:_BODY_KEPT - len(body)]
            if expired.is_set():  # http.client ends a read cut short quietly
                raise _Expired(path, status)
            if response.length:  # bytes of Content-Length never received
                raise IncompleteRead(bytes(body), response.length)
            latency = (time.monotonic() - start) * 1000.0
            if response.status >= 500:
                _wait_close(probe, min(deadline, time.monotonic() + _CLOSE_WAIT))
            return response.status, bytes(body), latency
        except (OSError, HTTPException):
            if expired.is_set() or time.monotonic() >= deadline:
                raise _Expired(path, status)
            raise
    finally:
        if timer is not None:
            timer.cancel()
            timer.join(1.0)
        connection.close()
        if probe is not None:
            probe.close()


def _wait_close(sock, until):
    try:
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            sock.settimeout(remaining)
            if not sock.recv(65536):
                return
    except OSError:
        return


# -- the user's app ----------------------------------------------------------


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
    match = _APP_SPEC.match(spec or "") if isinstance(spec, str) else None
    if match is None:
        raise ValueError("--app must be MODULE:APP or MODULE:FACTORY(), got %r" % (spec,))
    return match.group(1), match.group(2), bool(match.group(3))


def run_app(spec, report=None, folder=None):
    """Boot the user's app on an ephemeral loopback port (runs in the child).

    Args:
        spec (str): ``MODULE:APP`` or ``MODULE:factory()``.
        report (str or None): where to write why the app could not be
            loaded (JSON: ``kind``, ``message``, ``traceback``) before
            exiting with code 3; None raises instead.
        folder (str or None): the folder to import the app from, put first
            on ``sys.path`` (the check's current folder, as ``flask run``
            imports from its own); any name works, ``:`` included.
    """
    hold_lifeline(os.path.dirname(os.path.abspath(report)) if report else None)
    if folder is not None:
        sys.path.insert(0, folder)
    import portfix  # noqa: F401 - installs the port file hook, and the fixes

    app = _load_app(spec, report)
    if hasattr(app, "run"):
        app.run(host=HOST, port=0)
    else:  # a plain WSGI callable
        from werkzeug.serving import run_simple

        run_simple(HOST, 0, app)


def _load_app(spec, report):
    import importlib
    import inspect

    module_name, attribute, call = parse_app_spec(spec)
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        _give_up(report, "import", "cannot import %s: %s: %s" % (module_name, type(exc).__name__, exc))
    app = getattr(module, attribute, _MISSING)
    if app is _MISSING:
        _give_up(report, "usage", "module %s has no attribute %r (--app %s)" % (module_name, attribute, spec))
    if call:
        if not _binds(app):
            _give_up(report, "usage", "%s:%s cannot be called without arguments, as --app %s asks; give an app "
                                      "(--app %s:%s) or a factory that takes none" % (
                                          module_name, attribute, spec, module_name, attribute))
        try:
            app = app()
        except (Exception, SystemExit) as exc:
            _give_up(report, "factory", "%s:%s() raised %s: %s" % (module_name, attribute, type(exc).__name__, exc))
    elif (inspect.isfunction(app) or inspect.ismethod(app)) and _binds(app) and not _binds(app, None, None):
        # A factory named without (): served as it is, every request would be
        # answered 500 (the function called with environ, start_response).
        _give_up(report, "usage", "%s:%s is a function that takes no arguments, not a WSGI app; for an app "
                                  "factory use --app '%s:%s()'" % (module_name, attribute, module_name, attribute))
    if not hasattr(app, "run") and not callable(app):
        _give_up(report, "usage", "%s is a %s, not a WSGI app nor an object with run() (--app %s)" % (
            attribute, type(app).__name__, spec))
    return app


_MISSING = object()


def _binds(function, *args):
    """True when *function* accepts *args* (True too when its signature cannot be read)."""
    import inspect

    try:
        inspect.signature(function).bind(*args)
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): do not guess
        return True
    return True


def _give_up(report, kind, message):
    """Write the report and exit with code 3 at once (runs in the child); without a report, raise."""
    import json
    import traceback

    if report is None:
        if sys.exc_info()[0] is not None:
            raise
        raise ValueError(message)
    text = traceback.format_exc() if sys.exc_info()[0] is not None else ""
    content = json.dumps({"kind": kind, "message": message[:2000], "traceback": text[-32000:]})
    fd = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # the check is gone (its pipe with it): see below
        pass
    end_if_orphaned()  # os._exit runs no atexit hook: a dead check's folder goes now
    # Not sys.exit: a thread the module started before it failed would keep
    # the process (and the check) waiting until the timeout.
    os._exit(_REPORT_EXIT)


def _read_report(path):
    """The child's error report: (kind, one-line message, traceback lines), escaped; or None."""
    import json
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, _REPORT_MAX)
    finally:
        os.close(fd)
    try:
        report = json.loads(data.decode("utf-8", "replace"))
        kind, message, traceback = report["kind"], report["message"], report["traceback"]
    except (ValueError, KeyError, TypeError):
        return None
    if kind not in ("import", "usage", "factory") or not isinstance(message, str) or not isinstance(traceback, str):
        return None
    return kind, escape(message), [escape(line) for line in traceback.splitlines()]


def _wait_port_file(child, path, report, deadline, timeout):
    from ._portfile import read_port_file

    while True:
        port = read_port_file(path)
        if port is not None:
            return port
        if child.process.poll() is not None:
            found = _read_report(report) if child.process.returncode == _REPORT_EXIT else None
            if found:
                raise _Failed(*found)
            raise _Failed(*_not_listening(child, timeout, "no port file"))
        if time.monotonic() > deadline:
            raise _Failed(*_not_listening(child, timeout, "no port file"))
        # Werkzeug logs "Running on" once it listens, right after the file
        # is written: a new line means look again now.
        child.pause_for_output(min(_PORT_FILE_POLL, max(0.0, deadline - time.monotonic())))


def check_app(spec, paths=("/",), expect=200, timeout=20.0):
    """Boot ``MODULE:APP`` on an ephemeral port in a child process and GET each path.

    Args:
        spec (str): ``"package.module:app"`` or ``"package.module:create_app()"``,
            imported from the current folder and ``sys.path``.
        paths (sequence of str): URL paths to request, e.g. ``["/health"]``.
        expect (int or sequence of int): the status every path must answer,
            or one per path, in order.
        timeout (float): seconds for the whole check: the app starting and
            listening, and every request with its body.

    Returns:
        dict: ``ok`` (bool), ``app``, ``port`` (int or None), ``error``
        (one-line str or None), ``error_kind`` (None; ``"disabled"``:
        PORTFIX_DISABLE is set, no child started; ``"usage"``: ``--app``
        names no app; ``"import"``: the module raised on import;
        ``"factory"``: the factory raised; ``"crash"``: the app exited before
        listening; ``"timeout"``), ``traceback`` (list of str: the import or
        factory error's traceback, escaped), ``output`` (list of str: the
        app's last lines of output, escaped, after a crash, a timeout or a
        5xx), ``child_pid`` (absent when no child was started), and
        ``paths``: one dict per path requested with ``path``, ``expect``,
        ``status`` (int or None), ``latency_ms`` (float or None), ``ok``,
        ``error``.

    Raises:
        ValueError: *spec*, a path, an expected status or *timeout* is
            malformed, the statuses do not pair with the paths, or the
            current folder is gone (before any child starts).
    """
    parse_app_spec(spec)
    paths = [valid_path(path) for path in paths]
    expects = pair_expectations(paths, expect)
    timeout = valid_timeout(timeout)
    result = {"ok": False, "app": spec, "port": None, "error": None, "error_kind": None, "paths": [],
              "traceback": [], "output": []}
    disabled = _disabled_error()
    if disabled:  # the child would write no port file: say so now, start nothing
        result.update(error=disabled, error_kind="disabled")
        return result
    here = _current_folder(", and --app imports the app from it")
    import tempfile

    deadline = time.monotonic() + timeout
    folder = None
    try:
        with shielded():
            folder = tempfile.mkdtemp(prefix="portfix-check-")
        port_file = os.path.join(folder, "port")
        report = os.path.join(folder, "report.json")
        env = dict.fromkeys(_NOT_PASSED_ON)
        env[PORT_FILE_ENV] = port_file
        # A script file, not -c: a reloader (DEBUG in the app's config)
        # re-executes sys.argv.
        script = os.path.join(folder, "run_app.py")
        with open(script, "w") as f:
            f.write(_RUN_APP)
        with Child([script, spec, report, here], env=env, lifeline=True) as child:
            result["child_pid"] = child.pid
            try:
                _run_paths(child, result, port_file, report, zip(paths, expects), deadline, timeout)
            finally:
                # Before the child is stopped: a check killed while it stops
                # the child (dead of SIGTERM, no lifeline left to act) would
                # leave the folder.  The child's port file is in it; its
                # withdrawal at exit finds nothing, which is fine.
                _remove(folder)
    finally:
        _remove(folder)  # again: the child may have written in it meanwhile
    return result


# The child's program: the app is imported from the check's folder (argv[3]),
# not from this script's (the temporary folder, which holds run_app.py).
_RUN_APP = """import os, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if p not in (here, os.path.realpath(here))]
from portfix._check import run_app
run_app(sys.argv[1], sys.argv[2], sys.argv[3])
"""


def _remove(folder):
    import shutil

    with shielded():
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _current_folder(why=""):
    """The current folder, where the child starts (and the app is imported from).

    Raises:
        ValueError: it no longer exists (or cannot be read), saying why.
    """
    try:
        return os.getcwd()
    except OSError as exc:
        raise ValueError("the current folder is gone (%s)%s: run the check from an existing folder"
                         % (escape(exc.strerror or str(exc)), why))


def _run_paths(child, result, port_file, report, pairs, deadline, timeout):
    from http.client import HTTPException

    try:
        port = result["port"] = _wait_port_file(child, port_file, report, deadline, timeout)
        for path, expected in pairs:
            row = {"path": path, "expect": expected, "status": None, "latency_ms": None, "ok": False, "error": None}
            result["paths"].append(row)
            try:
                status, _, latency = _get(HOST, port, path, deadline)
                row.update(status=status, latency_ms=round(latency, 2), ok=status == expected)
            except _Expired as exc:
                row.update(status=exc.args[1], error="timed out")
                raise _Failed("timeout", _timed_out(exc, timeout))
            except (OSError, HTTPException) as exc:
                row["error"] = describe(exc)
        result["ok"] = all(row["ok"] for row in result["paths"])
    except _Failed as exc:
        result.update(error=exc.message, error_kind=exc.kind, traceback=exc.traceback or [])
    if result["error_kind"] in ("crash", "timeout") or any((row["status"] or 0) >= 500 for row in result["paths"]):
        child.settle(_SETTLE)
        result["output"] = child.tail(SHOWN_LINES)


def exit_code(result):
    """0 ok, 2 when ``--app`` names no app (a usage error found in the child), 1 failed."""
    if result["ok"]:
        return 0
    return 2 if result.get("error_kind") == "usage" else 1


def format_app_result(result, as_json=False, verbose=False):
    """The report as printed: JSON, or text (one ``portfix check: ...`` line,
    for stderr, when ``--app`` names no app: ``exit_code`` 2).

    *verbose* adds the traceback of an import or factory error.
    """
    if as_json:
        import json

        return json.dumps(result, sort_keys=True)
    if result.get("error_kind") == "usage":
        return "portfix check: %s" % result["error"]
    title = "portfix check --app %s" % result["app"]
    if result["port"] is None:  # nothing was requested: one line, then the details
        lines = ["%s: FAILED: %s" % (title, result["error"])]
        if verbose:
            lines += ["    " + line for line in result["traceback"]]
        return "\n".join(lines + _output_lines(result["output"]))
    lines = ["%s: port %s" % (title, result["port"])]
    if result["paths"]:
        rows = [("path", "status", "latency ms", "")]
        for row in result["paths"]:
            rows.append((
                row["path"],
                "-" if row["status"] is None else str(row["status"]),
                "-" if row["latency_ms"] is None else "%.1f" % row["latency_ms"],
                "ok" if row["ok"] else "FAILED (expected %d)%s" % (
                    row["expect"], ": " + row["error"] if row["error"] else ""),
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    if result["error"]:
        lines.append("FAILED: %s" % result["error"])
    lines += _output_lines(result["output"])
    lines.append("ok" if result["ok"] else "FAILED")
    return "\n".join(lines)
