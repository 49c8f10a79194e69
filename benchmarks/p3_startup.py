"""P3 start-up: from Popen to the first HTTP 200.

With portfix: ``import portfix`` and ``app.run(port=0)``.  Without: portfix
not imported at all and ``app.run(port=<fixed free port>)`` (picked before the
clock starts).  Both learn readiness the same way: wait for the "Running on"
line, then GET / (retrying while the connection is refused) until 200.  Runs
come in pairs, the order alternating; a pair's figure is with / without.
"""

from _common import (
    HERE, RUNNING_ON, Child, ChildTimeout, address_in_use, app_argv, child_env, clock, figure, free_port, get, say, summarize,
)

TARGET = 1.02


def _startup_once(portfix, timeout=30.0, attempts=3):
    for attempt in range(attempts):
        port = 0 if portfix else free_port()
        start = clock()
        with Child(app_argv(port, portfix), env=child_env(), cwd=HERE) as child:
            try:
                match = child.wait_for(RUNNING_ON, timeout)
            except ChildTimeout:
                # Another process took the fixed port first: not a start-up time.
                if not portfix and address_in_use(child.output()) and attempt + 1 < attempts:
                    continue
                raise
            status, body = get(int(match.group(3)), start + timeout)
            elapsed = clock() - start
            if status != 200:
                raise RuntimeError("GET / -> %s %r\n%s" % (status, body[:80], child.output()))
        return elapsed
    raise AssertionError("unreachable")


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
    result = figure("P3", "P3 start-up ratio portfix(port=0)/without(fixed port)", ratios, "<= %.2f" % TARGET, None)
    result["met"] = result["median"] <= TARGET
    result["detail"] = {"seconds": times}
    say("   ratio median %s, %s" % (result["median_text"], result["spread_text"]))
    return [result]
