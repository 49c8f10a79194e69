"""Shared by the ``portfix run`` tests and tests/flask_run_counts.py: the runner, apps that
do not import portfix, waiting for a port file."""

import os
import re
import sys
import textwrap
import time

from portfix._portfile import read_port_file
from portfix._process import Child

# Where portfix is imported from (src/ in the fast loop, site-packages in a
# nox cell): a runner started with this on sys.path needs no PYTHONPATH.
PORTFIX_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["portfix"].__file__)))
BOOT = os.path.join(PORTFIX_PARENT, "portfix", "_boot")
FLASK = os.path.join(os.path.dirname(sys.executable), "flask")
START_TIMEOUT = 40.0  # seconds for a server to start on a loaded runner (Flask imports in ~0.5 s on 3.6)

PID = re.compile(r"^pid (\d+)$")

# An app that knows nothing of portfix: Flask's when installed, else a WSGI
# callable; `python app.py` serves it with app.run / run_simple on port 0
# (APP_RELOADER=1 adds the reloader).
FLASK_APP = textwrap.dedent(
    """
    import os
    from flask import Flask

    app = Flask(__name__)

    @app.route("/")
    def index():
        return "pid %d" % os.getpid()

    if __name__ == "__main__":
        app.run(host="127.0.0.1", port=0, use_reloader=os.environ.get("APP_RELOADER") == "1")
    """
)

WERKZEUG_APP = textwrap.dedent(
    """
    import os

    def app(environ, start_response):
        body = ("pid %d" % os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    if __name__ == "__main__":
        from werkzeug.serving import run_simple
        run_simple("127.0.0.1", 0, app, use_reloader=os.environ.get("APP_RELOADER") == "1")
    """
)


def write_app(folder, flask):
    """Write app.py (Flask's or the WSGI one) into *folder* (a pathlib.Path); return its path."""
    path = folder / "app.py"
    path.write_text(FLASK_APP if flask else WERKZEUG_APP)
    return str(path)


def portfix_run(args, env=None, cwd=None, python=None):
    """A Child running ``portfix run ARGS`` (``-m portfix``), with PORTFIX_DISABLE unset
    unless *env* sets it."""
    environ = {"PORTFIX_DISABLE": None}
    environ.update(env or {})
    return Child(["-m", "portfix", "run"] + list(args), env=environ, cwd=cwd, python=python)


def finish(child, timeout=START_TIMEOUT):
    """Wait for *child* to exit; return its exit code and every line of its output.

    ``Child.stop()`` joins the reader thread, so no line is still on its way.
    """
    code = child.wait_exit(timeout)
    child.stop()
    return code, child.output().splitlines()


def wait_port_file(child, path, timeout=START_TIMEOUT):
    """The port in *path* once it is there; raises AssertionError naming the child's output."""
    deadline = time.monotonic() + timeout
    while True:
        port = read_port_file(path)
        if port is not None:
            return port
        if child.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("no port file %s (exit code %s); output:\n%s"
                                 % (path, child.process.poll(), child.output()))
        time.sleep(0.05)


def alive(pid):
    """True while *pid* exists (a zombie counts as gone: it holds nothing)."""
    if os.path.isdir("/proc/self"):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
