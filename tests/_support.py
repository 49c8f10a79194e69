"""Shared helpers for the tests: the installed cell, child processes, ports."""

import contextlib
import errno
import re
import socket
import textwrap
import time
import json

import pytest

from portfix._defects import DEFECTS
from portfix._gate import decide, decide_features, read_versions
from portfix._process import RUNNING_ON, Child
from portfix._versions import matches

VERSIONS = read_versions()
_DECISIONS = dict((d.defect.id, d) for d in decide(VERSIONS))
# What `import portfix` applies here with no switch set: the defects, and the
# features that are always on (port-in-use...).
GATE = decide(VERSIONS) + decide_features(VERSIONS, set())


def gate_patches():
    """The target names the gate patches on this cell (no switch set), sorted."""
    return sorted(set(name for d in GATE if d.applies for name in d.defect.targets))
_BY_ID = dict((d.id, d) for d in DEFECTS)

# Every reproduction test runs both ways: the defect must show with portfix
# disabled (on affected releases) and be gone with portfix on.
MODES = [pytest.param(True, id="portfix-disabled"), pytest.param(False, id="portfix-on")]


def installed(distribution):
    version = VERSIONS.get(distribution)
    return version if isinstance(version, str) else None


def affected(defect_id):
    """The truth: the installed release lies in the defect's affected range."""
    defect = _BY_ID[defect_id]
    version = installed(defect.distribution)
    return version is not None and matches(version, defect.affected)


def patched(defect_id):
    """The policy: portfix resolves this defect on this cell."""
    return _DECISIONS[defect_id].applies


def shows_defect(defect_id, disabled):
    """Whether a run in this mode must show the defect."""
    return affected(defect_id) and (disabled or not patched(defect_id))


def require(distribution):
    if installed(distribution) is None:
        pytest.skip("%s is not installed in this cell" % distribution)


PRELUDE = """
import json, os, socket, sys
import portfix
def report(**values):
    sys.stdout.write("RESULT " + json.dumps(values) + "\\n")
    sys.stdout.flush()
"""

RESULT = re.compile(r"^RESULT (.*)$")

# Wraps make_server (and delegates to the real one) to print the port the
# server's socket really has, read from the socket.
BOUND_SPY = """
import werkzeug.serving
_real_make_server = werkzeug.serving.make_server
def _bound_spy(*args, **kwargs):
    server = _real_make_server(*args, **kwargs)
    sys.stdout.write("BOUND %d PID %d\\n" % (server.socket.getsockname()[1], os.getpid()))
    sys.stdout.flush()
    return server
werkzeug.serving.make_server = _bound_spy
"""
BOUND = re.compile(r"BOUND (\d+) PID (\d+)")


def worker_server(child, timeout=40):
    """(port, pid) of the next server a reloader worker builds (BOUND_SPY lines).

    The reloader parent is the child process itself; Werkzeug >= 2.1 builds a
    server object there too (without serving), earlier releases a bare socket.
    """
    while True:
        port, pid = (int(n) for n in child.wait_for(BOUND, timeout).groups())
        if pid != child.pid:
            return port, pid

# Keeps what portfix logs, to count its warnings.
CAPTURE_LOG = """
import logging
records = []
class _Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("portfix").addHandler(_Keep())
"""


def start(code, disabled, env=None, path=None):
    """Start a child running PRELUDE + *code*, PORTFIX_DISABLE=1 or unset.

    With *path*, the program is written there and run as a script (the
    reloader re-executes sys.argv, which ``-c`` would break).
    """
    environ = {"PORTFIX_DISABLE": "1" if disabled else None}
    environ.update(env or {})
    source = textwrap.dedent(PRELUDE) + textwrap.dedent(code)
    if path is None:
        return Child(["-c", source], env=environ)
    with open(str(path), "w") as f:
        f.write(source)
    return Child([str(path)], env=environ)


def probe(code, disabled, env=None, timeout=30):
    """Run a child to its RESULT line; return the decoded dict."""
    with start(code, disabled, env) as child:
        return json.loads(child.wait_for(RESULT, timeout).group(1))


def wait_running_on(child, timeout=30):
    """Return the port from the child's next "Running on" line."""
    return int(child.wait_for(RUNNING_ON, timeout).group(3))


def http_get(port, path="/", host="127.0.0.1", timeout=10):
    from http.client import HTTPConnection

    deadline = time.monotonic() + timeout
    while True:
        connection = HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            connection.close()


def is_listening(port, host="127.0.0.1"):
    with contextlib.closing(socket.socket()) as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


@contextlib.contextmanager
def busy_port(port=5000, host="127.0.0.1"):
    """Keep host:port busy.  If another process already listens there, it is busy anyway."""
    sock = socket.socket()
    try:
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        yield port
    finally:
        sock.close()


@contextlib.contextmanager
def port_for_app_run(disabled, host="127.0.0.1"):
    """The port a child's app.run should be given for a port of its own: 0.

    Where Flask turns 0 into 5000 (D1 shown: Flask 1.0-1.0.4 with portfix
    off), 5000 may be held by the other CI lane, so a reserved port instead:
    bound with SO_REUSEADDR and never listening, it is handed to no one's
    bind(port 0) while the block runs, and a server that sets SO_REUSEADDR
    too (Werkzeug's servers do) can still bind and listen on it.
    """
    if not shows_defect("D1", disabled):
        yield 0
        return
    with contextlib.closing(socket.socket()) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        yield sock.getsockname()[1]


def held_ephemeral_port(host="127.0.0.1"):
    """A listening socket on an OS-chosen port: a port known to be busy."""
    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen(1)
    return sock


# A child serving its pid on a loopback port ({port}, 0 for an ephemeral
# one): app.run where Flask is installed, run_simple where it is not.
# {options} is appended to the call's arguments (", use_reloader=True"...).
RUN_FLASK = """
import flask
app = flask.Flask("served")
app.add_url_rule("/", "index", lambda: "pid %d" % os.getpid())
app.run(host="127.0.0.1", port={port}{options})
"""

RUN_WERKZEUG = """
def app(environ, start_response):
    body = ("pid %d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
import werkzeug.serving
werkzeug.serving.run_simple("127.0.0.1", {port}, app{options})
"""


def serve_pid_program(options="", port=0):
    """The child program above for this cell, on *port* (int), with *options* (a str) added."""
    template = RUN_FLASK if installed("flask") else RUN_WERKZEUG
    return template.format(options=options, port=port)


def ipv6_loopback():
    """True when this machine can bind ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def gone(pid):
    """True when *pid* no longer runs (a zombie left to a non-reaping PID 1 counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (IOError, OSError):
        return True
