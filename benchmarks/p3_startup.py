"""P3 start-up: from Popen to the first HTTP 200, and the CPU portfix adds on the way.

P3 (whole process): with portfix, ``import portfix`` and ``app.run(port=0)``;
without, portfix not imported at all and ``app.run(port=<fixed free port>)``
(picked before the clock starts).  Both learn readiness the same way: wait for
the "Running on" line, then GET / (retrying while the connection is refused)
until 200.  Runs come in pairs, the order alternating; a pair's figure is
with / without.  Interpreter start-up and Flask's import are in it, so on
this machine it moves by +-5% and cannot resolve portfix's few milliseconds.

P3-cpu (in-process, as P1): ``_startup.py`` children report their own CPU
time up to their first request, in parts: ``import portfix``, its hook's
work when werkzeug.serving is imported, and the rest (the app, ``app.run``,
the server, the request).  A pair's figure is portfix's import, plus its
hook, plus the difference in the rest with and without portfix (the patched
``Flask.run``, ``run_simple`` and server): what portfix adds between process
start and the first served request.
"""

import os
import re

from _common import (
    HERE, RUNNING_ON, Child, ChildTimeout, address_in_use, app_argv, child_env, clock, figure, free_port, get, say, summarize,
)

STARTUP = os.path.join(HERE, "_startup.py")
_REPORT = re.compile(r"STARTUP flask=(\S+) portfix=(\S+) serving=(\S+) hook=(\S+) rest=(\S+)")
CPU_TARGET = 4.0  # ms, on the patched cell
TARGET = 1.02


def _first_200(argv_for, portfix, then, timeout=30.0, attempts=3):
    """Start ``argv_for(port)`` (port 0 with portfix, a fixed free port
    without), wait for its "Running on" line and a 200 from GET /, and
    return ``then(child, start)``; *start* is the clock before ``Popen``.

    Without portfix another process may take the fixed port first: that run
    is not a start-up time, and another port is tried.
    """
    for attempt in range(attempts):
        port = 0 if portfix else free_port()
        start = clock()
        with Child(argv_for(port), env=child_env(), cwd=HERE) as child:
            try:
                match = child.wait_for(RUNNING_ON, timeout)
            except ChildTimeout:
                if not portfix and address_in_use(child.output()) and attempt + 1 < attempts:
                    continue
                raise
            status, body = get(int(match.group(3)), start + timeout)
            if status != 200:
                raise RuntimeError("GET / -> %s %r\n%s" % (status, body[:80], child.output()))
            return then(child, start)
    raise AssertionError("unreachable")


def _startup_once(portfix):
    """Seconds from ``Popen`` to the first 200."""
    return _first_200(lambda port: app_argv(port, portfix), portfix, lambda child, start: clock() - start)


def _startup_cpu_once(portfix, timeout=30.0):
    """{part: CPU seconds} of one ``_startup.py`` child: flask, portfix, serving, hook, rest."""

    def report(child, start):
        found = child.wait_for(_REPORT, timeout)
        return dict(zip(("flask", "portfix", "serving", "hook", "rest"), (float(found.group(i)) for i in range(1, 6))))

    argv_for = lambda port: [STARTUP, str(port)] + (["--portfix"] if portfix else [])  # noqa: E731
    return _first_200(argv_for, portfix, report, timeout)


def _cpu_figure(quick):
    pairs = 10 if quick else 30
    say("== P3-cpu start-up: CPU from before `import flask` to the first request, in-process, %d alternating pairs" % pairs)
    _startup_cpu_once(True)  # warm-up: .pyc files
    _startup_cpu_once(False)
    added = []
    parts = {"import portfix": [], "hook at werkzeug.serving": [], "rest, with portfix": [], "rest, without portfix": [],
             "werkzeug.serving, with portfix": [], "werkzeug.serving, without portfix": []}
    for i in range(pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        pair = {}
        for portfix in order:
            pair[portfix] = _startup_cpu_once(portfix)
        with_, without = pair[True], pair[False]
        parts["import portfix"].append(with_["portfix"] * 1e3)
        parts["hook at werkzeug.serving"].append(with_["hook"] * 1e3)
        parts["rest, with portfix"].append(with_["rest"] * 1e3)
        parts["rest, without portfix"].append(without["rest"] * 1e3)
        parts["werkzeug.serving, with portfix"].append(with_["serving"] * 1e3)
        parts["werkzeug.serving, without portfix"].append(without["serving"] * 1e3)
        added.append((with_["portfix"] + with_["hook"] + with_["rest"] - without["rest"]) * 1e3)
    for label, values in parts.items():
        s = summarize(values)
        say("   %-34s median %7.2f ms  (IQR %.2f-%.2f, min-max %.2f-%.2f)" % (label, s.median, s.q1, s.q3, s.min, s.max))
    result = figure("P3-cpu", "P3-cpu CPU portfix adds up to the first request, ms", added,
                    "<= %.1f" % CPU_TARGET, None, fmt="%.2f")
    result["met"] = result["median"] <= CPU_TARGET
    result["detail"] = parts
    say("   added per pair (import + hook + rest difference): median %s, %s" % (result["median_text"], result["spread_text"]))
    return result


def run(quick=False):
    pairs = 5 if quick else 15
    say("== P3 start-up: Popen -> first 200, %d alternating pairs" % pairs)
    _startup_once(True)  # warm-up: .pyc files, page cache
    _startup_once(False)
    times = {"portfix": [], "without": []}
    ratios = []
    for i in range(pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        pair = {}
        for portfix in order:
            variant = "portfix" if portfix else "without"
            pair[variant] = _startup_once(portfix)
            times[variant].append(pair[variant])
        ratios.append(pair["portfix"] / pair["without"])
    for variant in ("portfix", "without"):
        s = summarize(times[variant])
        say("   %-8s median %6.1f ms  (IQR %.1f-%.1f, min-max %.1f-%.1f)" % (variant, s.median * 1e3, s.q1 * 1e3, s.q3 * 1e3, s.min * 1e3, s.max * 1e3))
    # Issue 11: this whole-process ratio moves by +-5% on this machine and cannot
    # resolve a 2% target; P3-cpu above carries the target, this one is shown beside.
    result = figure("P3", "P3 start-up ratio portfix(port=0)/without(fixed port), wall", ratios,
                    "info (<= %.2f: see P3-cpu)" % TARGET, None)
    result["detail"] = {"seconds": times}
    say("   ratio median %s, %s (whole process: its spread is wider than what P3-cpu measures)"
        % (result["median_text"], result["spread_text"]))
    return [_cpu_figure(quick), result]
