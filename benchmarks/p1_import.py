"""P1 import: ``import flask; import portfix`` against ``import flask``.

Each run is a fresh interpreter that times its own imports (interpreter
start-up is left out, so the ratio is not diluted by it), in CPU time
(``time.process_time()``) and in wall time (``time.perf_counter()``).  Runs
come in pairs, one of each, the order alternating from pair to pair; a pair's
figure is (flask + portfix) / (flask alone).  The CPU-time ratio is the
figure: on a shared machine wall time also counts the time spent waiting for
a CPU, which swamps a few milliseconds (the wall-time ratio is printed too).
A warm-up pair first makes sure the ``.pyc`` files exist.

Then ``-X importtime`` (on Python 3.6, which lacks it, ``_importtrace.py``
writes the same lines) shows where portfix's share goes: portfix's own
modules and everything imported while ``import portfix`` ran, with the median
self and cumulative times over a few runs.
"""

import os
import re
import sys

from _common import HERE, Child, child_env, figure, say, summarize

TARGET = 1.03
_TIMED = (
    "import time as _t; _w = _t.perf_counter(); _c = _t.process_time(); %s; "
    "print('IMPORT_SECONDS %%r %%r' %% (_t.process_time() - _c, _t.perf_counter() - _w))"
)
STATEMENTS = {
    "flask": "import flask",
    "flask+portfix": "import flask; import portfix",
}
_SECONDS = re.compile(r"IMPORT_SECONDS (\S+) (\S+)")
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def _import_once(variant, timeout=60.0):
    with Child(["-c", _TIMED % STATEMENTS[variant]], env=child_env(), cwd=HERE) as child:
        match = child.wait_for(_SECONDS, timeout)
        code = child.wait_exit(timeout)
        if code != 0:
            raise RuntimeError("%s exited %s:\n%s" % (variant, code, child.output()))
    return float(match.group(1)), float(match.group(2))  # CPU, wall


def _importtime_once(timeout=60.0):
    """One traced ``import flask; import portfix``: [(self_us, cumulative_us, depth, name)]."""
    if sys.version_info >= (3, 7):
        argv = ["-X", "importtime", "-c", "import flask; import portfix"]
    else:
        argv = [os.path.join(HERE, "_importtrace.py"), "flask", "portfix"]
    with Child(argv, env=child_env(), cwd=HERE) as child:
        code = child.wait_exit(timeout)
        child.stop()
        output = child.output()
    if code != 0:
        raise RuntimeError("importtime run exited %s:\n%s" % (code, output))
    rows = []
    for line in output.splitlines():
        match = _LINE.match(line)
        if match:
            rows.append((int(match.group(1)), int(match.group(2)), len(match.group(3)) // 2, match.group(4)))
    return rows


def portfix_subtree(rows):
    """The rows printed while ``import portfix`` ran (its own modules and what they pulled in).

    ``-X importtime`` prints a module after the modules it imported, so
    portfix's subtree is the run of deeper rows just before its top-level row.
    """
    end = max(i for i, row in enumerate(rows) if row[3] == "portfix" and row[2] == 0)
    start = end
    while start > 0 and rows[start - 1][2] > 0:
        start -= 1
    return rows[start : end + 1]


def _parent(rows, index):
    depth = rows[index][2]
    for row in rows[index + 1 :]:
        if row[2] < depth:
            return row[3]
    return None


def run(quick=False):
    pairs = 5 if quick else 20
    traces = 1 if quick else 5
    say("== P1 import: `import flask; import portfix` / `import flask`, fresh interpreters, %d alternating pairs" % pairs)
    for variant in ("flask", "flask+portfix"):  # warm-up: .pyc files
        _import_once(variant)
    times = {"cpu": {"flask": [], "flask+portfix": []}, "wall": {"flask": [], "flask+portfix": []}}
    ratios = {"cpu": [], "wall": []}
    for i in range(pairs):
        order = ("flask", "flask+portfix") if i % 2 == 0 else ("flask+portfix", "flask")
        pair = {}
        for variant in order:
            pair[variant] = _import_once(variant)
        for k, clock_name in enumerate(("cpu", "wall")):
            for variant in order:
                times[clock_name][variant].append(pair[variant][k])
            ratios[clock_name].append(pair["flask+portfix"][k] / pair["flask"][k])
    for clock_name in ("cpu", "wall"):
        for variant in ("flask", "flask+portfix"):
            s = summarize(times[clock_name][variant])
            say("   %-4s %-14s median %7.1f ms  (IQR %.1f-%.1f, min-max %.1f-%.1f)"
                % (clock_name, variant, s.median * 1e3, s.q1 * 1e3, s.q3 * 1e3, s.min * 1e3, s.max * 1e3))
        extra = summarize([(b - a) * 1e3 for a, b in zip(times[clock_name]["flask"], times[clock_name]["flask+portfix"])])
        say("   %-4s portfix's share: median %.1f ms per pair (IQR %.1f-%.1f)" % (clock_name, extra.median, extra.q1, extra.q3))
    result = figure("P1", "P1 import ratio (flask+portfix)/flask, CPU time", ratios["cpu"], "<= %.2f" % TARGET, None)
    result["met"] = result["median"] <= TARGET
    wall = figure("P1-wall", "P1 import ratio, wall time (load-sensitive)", ratios["wall"], "info", None)
    say("   CPU-time ratio median %s, %s" % (result["median_text"], result["spread_text"]))
    say("   wall-time ratio median %s, %s" % (wall["median_text"], wall["spread_text"]))

    tool = "-X importtime" if sys.version_info >= (3, 7) else "_importtrace.py (-X importtime's format; Python 3.6 has no -X importtime)"
    say("   where portfix's time goes: %s, median of %d run(s), microseconds" % (tool, traces))
    runs = [portfix_subtree(_importtime_once()) for _ in range(traces)]
    shape = [(row[2], row[3]) for row in runs[0]]
    runs = [r for r in runs if [(row[2], row[3]) for row in r] == shape]  # same import order
    breakdown = []
    for index, (depth, name) in enumerate(shape):
        own = summarize([r[index][0] for r in runs]).median
        cumulative = summarize([r[index][1] for r in runs]).median
        breakdown.append({
            "module": name,
            "depth": depth,
            "self_us": own,
            "cumulative_us": cumulative,
            "portfix": name.split(".")[0] == "portfix",
            "imported_by": _parent(runs[0], index),
        })
    say("   %9s | %10s | module" % ("self", "cumulative"))
    for row in breakdown:
        say("   %9d | %10d | %s%s" % (row["self_us"], row["cumulative_us"], "  " * row["depth"], row["module"]))
    own_total = sum(row["self_us"] for row in breakdown if row["portfix"])
    pulled = [row for row in breakdown if not row["portfix"] and (row["imported_by"] or "").split(".")[0] == "portfix"]
    say("   portfix's own modules, self times summed: %d us" % own_total)
    for row in pulled:
        say("   pulled in by %s: %s, %d us cumulative" % (row["imported_by"], row["module"], row["cumulative_us"]))
    result["detail"] = {
        "import_seconds": times,
        "importtime_tool": tool,
        "importtime_runs": len(runs),
        "importtime": breakdown,
    }
    return [result, wall]
