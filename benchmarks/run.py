"""Run the benchmarks in this interpreter's environment and print a summary table.

    python benchmarks/run.py [--quick] [--json] [--only P1,P3,S]

Every figure is measured within one run of this script on one cell: CPU time
inside the process where it can be (P1, P3-cpu, S-idle), ratios of runs that
alternate where it cannot; each is repeated, and the table gives the median
and the spread (IQR and min-max) over the repetitions, the target, and whether
the median meets it.  The load average is printed before and after.  These
are measurements, not tests: the exit code is 0 whether or not a target is met.

--quick  fewer repetitions and smaller budgets (a smoke run, minutes less)
--json   the full results as JSON on stdout (progress goes to stderr)
--only   run only these benchmarks (comma-separated: P1,P2,P3,P4,S,C)

Stdlib only, Python 3.6 compatible: it runs inside a nox cell's venv.
"""

import argparse
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from _common import say  # noqa: E402

BENCHMARKS = ("P1", "P2", "P3", "P4", "S", "C")


def _environment():
    import portfix

    statuses = portfix.status()
    versions = {}
    for record in statuses:
        versions[record.distribution] = record.installed
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "flask": versions.get("flask"),
        "werkzeug": versions.get("werkzeug"),
        "portfix": portfix.__version__,
        "portfix_file": portfix.__file__,
        "patched": [record.defect for record in statuses if record.applied],
        "cpus": os.cpu_count(),
        "load_average": _load(),
    }


def _load():
    try:
        return os.getloadavg()
    except (AttributeError, OSError):  # Windows
        return None


def _load_text(load):
    return "%.2f %.2f %.2f" % load if load else "unknown"


def _met_text(met):
    if met is None:
        return "-"
    return "yes" if met else "NO"


def print_table(env, figures, stream):
    stream.write("\n== summary: Python %s, Flask %s, Werkzeug %s, portfix %s (patched here: %s)\n" % (
        env["python"], env["flask"], env["werkzeug"], env["portfix"], ", ".join(env["patched"]) or "nothing"))
    stream.write("   %s CPUs; load average (1, 5, 15 min) at the start %s, at the end %s\n" % (
        env["cpus"], _load_text(env["load_average"]), _load_text(env.get("load_average_end"))))
    headers = ("figure", "median", "spread", "target", "met")
    rows = [(f["figure"], f["median_text"], f["spread_text"], f["target"], _met_text(f["met"])) for f in figures]
    widths = [max(len(str(row[i])) for row in rows + [headers]) for i in range(len(headers))]
    line = "  ".join("%-" + str(w) + "s" for w in widths)
    stream.write(line % headers + "\n")
    stream.write(line % tuple("-" * w for w in widths) + "\n")
    for row in rows:
        stream.write(line % row + "\n")
    stream.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--json", action="store_true", help="results as JSON on stdout; progress on stderr")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of %s" % ",".join(BENCHMARKS))
    args = parser.parse_args(argv)
    selected = [name.strip().upper() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in selected if name not in BENCHMARKS]
    if unknown:
        parser.error("unknown benchmark(s): %s" % ", ".join(unknown))
    _common.say.to_stderr = args.json

    env = _environment()
    say("portfix benchmarks%s: Python %s (%s), Flask %s, Werkzeug %s, portfix from %s; %s CPUs, load %s"
        % (" (quick)" if args.quick else "", env["python"], env["executable"], env["flask"], env["werkzeug"],
           env["portfix_file"], env["cpus"], _load_text(env["load_average"])))

    import c_check
    import p1_import
    import p2_requests
    import p3_startup
    import p4_parallel
    import s_serve

    modules = {"P1": p1_import, "P2": p2_requests, "P3": p3_startup, "P4": p4_parallel, "S": s_serve, "C": c_check}
    figures = []
    for name in BENCHMARKS:
        if name in selected:
            if name == "P1":  # its import target depends on whether anything is patched here
                figures.extend(p1_import.run(quick=args.quick, patched=bool(env["patched"])))
            else:
                figures.extend(modules[name].run(quick=args.quick))
            say("   (load average now %s)" % _load_text(_load()))
    env["load_average_end"] = _load()

    print_table(env, figures, sys.stderr if args.json else sys.stdout)
    if args.json:
        json.dump({"environment": env, "quick": args.quick, "figures": figures}, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
