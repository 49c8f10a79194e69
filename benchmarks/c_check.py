"""C check: the wall time of ``portfix check`` against ``python -c "import flask"``.

``portfix check`` starts a child that imports Flask and portfix, runs an app
on port 0, and GETs it: the child's own start-up (an interpreter and
``import flask``) is the floor.  Runs come in pairs, one of each, the order
alternating; a pair's figure is check / import flask.  Wall time, since the
check's cost is mostly waiting for its child: on a loaded machine expect a
wide spread.
"""

import os
import sys

from _common import HERE, Child, child_env, clock, figure, say, summarize

TARGET = 1.5


def _command():
    """The console script next to this interpreter, as users run it; ``-m portfix`` otherwise."""
    script = os.path.join(os.path.dirname(sys.executable), "portfix")
    if os.path.exists(script):
        return [sys.executable, script, "check"]
    return [sys.executable, "-m", "portfix", "check"]


def _timed(argv, timeout=60.0):
    started = clock()
    with Child(argv[1:], python=argv[0], env=child_env(), cwd=HERE) as child:
        code = child.wait_exit(timeout)
        elapsed = clock() - started
        if code != 0:
            raise RuntimeError("%s exited %s:\n%s" % (" ".join(argv), code, child.output()))
    return elapsed


def run(quick=False):
    pairs = 5 if quick else 15
    check = _command()
    flask = [sys.executable, "-c", "import flask"]
    say("== C check: `%s` / `python -c \"import flask\"`, wall time, %d alternating pairs"
        % (" ".join(os.path.basename(a) for a in check[1:]) if len(check) == 3 else "python -m portfix check", pairs))
    _timed(check)  # warm-up: .pyc files
    _timed(flask)
    times = {"check": [], "flask": []}
    ratios = []
    for i in range(pairs):
        order = ("check", "flask") if i % 2 == 0 else ("flask", "check")
        pair = {}
        for variant in order:
            pair[variant] = _timed(check if variant == "check" else flask)
            times[variant].append(pair[variant])
        ratios.append(pair["check"] / pair["flask"])
    for variant in ("check", "flask"):
        s = summarize(times[variant])
        say("   %-6s median %6.1f ms  (IQR %.1f-%.1f)" % (variant, s.median * 1e3, s.q1 * 1e3, s.q3 * 1e3))
    result = figure("C", "C portfix check / import flask, wall", ratios, "<= %.1f" % TARGET, None)
    result["met"] = result["median"] <= TARGET
    result["detail"] = {"seconds": times}
    say("   ratio median %s, %s" % (result["median_text"], result["spread_text"]))
    return [result]
