"""What the benchmarks share: child processes, free ports, one GET, statistics, figures.

Stdlib only, Python 3.6 compatible: the benchmarks run inside a cell's venv.
"""

import collections
import errno
import http.client
import os
import socket
import sys
import time

from portfix._process import RUNNING_ON, Child, ChildTimeout  # noqa: F401  (re-exported)

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "_app.py")

clock = time.perf_counter

# What could change how a child runs app.run; every child starts without them.
_NEUTRAL_ENV = {
    "FLASK_RUN_FROM_CLI": None,
    "FLASK_DEBUG": None,
    "FLASK_ENV": None,
    "FLASK_RUN_PORT": None,
    "WERKZEUG_RUN_MAIN": None,
    "WERKZEUG_SERVER_FD": None,
    "PORTFIX_RELOADER_PORT": None,
    "PYTHONDONTWRITEBYTECODE": None,  # the .pyc files exist and are used, as in production
}


def child_env(disable_portfix=False):
    """The environment overrides for a child: PORTFIX_DISABLE set or removed, never inherited."""
    env = dict(_NEUTRAL_ENV)
    env["PORTFIX_DISABLE"] = "1" if disable_portfix else None
    return env


def app_argv(port, portfix, keepalive=False, pick=False, tag=None):
    """Arguments after the interpreter for a ``_app.py`` child."""
    argv = [APP, str(port)]
    if portfix:
        argv.append("--portfix")
    if keepalive:
        argv.append("--keepalive")
    if pick:
        argv.append("--pick")
    if tag is not None:
        argv += ["--tag", tag]
    return argv


def free_port():
    """A port that was free on 127.0.0.1 a moment ago (for the runs without portfix)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def address_in_use(output):
    """True when a child's output shows that its bind failed with EADDRINUSE."""
    return "Address already in use" in output or "[Errno %d]" % errno.EADDRINUSE in output


def get(port, deadline, path="/"):
    """GET *path* on 127.0.0.1:*port*; retry while the connection is refused.

    Returns:
        tuple: (status, body as str).

    Raises:
        OSError: other connection errors, or still refused at *deadline*
            (a ``time.perf_counter()`` value).
    """
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max(0.1, deadline - clock()))
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except ConnectionRefusedError:
            if clock() >= deadline:
                raise
            time.sleep(0.005)
        finally:
            conn.close()


def start_server(portfix, keepalive=False, disable_portfix=False, timeout=30.0, tag=None, attempts=3):
    """Start an ``_app.py`` child and learn its port from the "Running on" line.

    With portfix on, the app runs on port 0.  Otherwise it runs on a fixed
    free port (port 0 becomes 5000 on Flask 1.0.x without portfix); a lost
    race for that port (EADDRINUSE) is retried with another one.

    Returns:
        tuple: (Child, port).  The caller stops the child (use ``with``).
    """
    on_port_0 = portfix and not disable_portfix
    for attempt in range(attempts):
        port = 0 if on_port_0 else free_port()
        child = Child(
            app_argv(port, portfix, keepalive=keepalive, tag=tag),
            env=child_env(disable_portfix),
            cwd=HERE,
        )
        try:
            match = child.wait_for(RUNNING_ON, timeout)
        except ChildTimeout:
            child.stop()
            if not on_port_0 and address_in_use(child.output()) and attempt + 1 < attempts:
                continue
            raise
        except BaseException:
            child.stop()
            raise
        return child, int(match.group(3))
    raise AssertionError("unreachable")


Summary = collections.namedtuple("Summary", "n median q1 q3 min max")


def _quantile(ordered, fraction):
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values):
    ordered = sorted(values)
    if not ordered:
        return Summary(0, None, None, None, None, None)
    return Summary(
        len(ordered),
        _quantile(ordered, 0.5),
        _quantile(ordered, 0.25),
        _quantile(ordered, 0.75),
        ordered[0],
        ordered[-1],
    )


def spread_text(summary, fmt="%.3f"):
    if not summary.n:
        return "-"
    return ("IQR " + fmt + "-" + fmt + ", min-max " + fmt + "-" + fmt) % (summary.q1, summary.q3, summary.min, summary.max)


def figure(key, name, values, target, met, fmt="%.3f", note=""):
    """One row of the summary table (a dict, so that --json can print it as is)."""
    summary = summarize(values)
    return {
        "key": key,
        "figure": name,
        "n": summary.n,
        "median": summary.median,
        "q1": summary.q1,
        "q3": summary.q3,
        "min": summary.min,
        "max": summary.max,
        "median_text": (fmt % summary.median) if summary.n else "-",
        "spread_text": spread_text(summary, fmt),
        "target": target,
        "met": met,
        "note": note,
        "values": list(values),
    }


def say(*parts):
    """Progress and per-benchmark figures: stdout, or stderr under --json."""
    stream = sys.stderr if say.to_stderr else sys.stdout
    stream.write(" ".join(str(part) for part in parts) + "\n")
    stream.flush()


say.to_stderr = False
