"""S: ``portfix.serve()`` handles: how fast ``stop()`` returns, what idle handles cost, 1024 at once.

Each figure runs in its own ``_serve_child.py`` process, measured from inside it:

* S-stop: 200 rounds (``--quick``: 50) of ``serve()``, one GET, ``stop()``:
  the wall time ``stop()`` takes (until then a loop polled for it every 50
  ms), and whether the port was free when it returned.  ``serve()``'s own
  time is printed beside it.
* S-idle: 256 handles that serve nothing: the process's CPU time over 3 s,
  as a share of one core (each handle used to wake 20 times a second).
* S-1024: 1024 handles at once: one GET to each in turn, its latency; the
  idle CPU while they are held; the descriptor limit it needed.

CPU time is the process's own (``time.process_time()``), so other processes'
load does not count in S-idle; the latencies are wall time.
"""

import json
import os
import re

from _common import HERE, Child, child_env, figure, say, summarize

CHILD = os.path.join(HERE, "_serve_child.py")
_RESULT = re.compile(r"SERVE (.*)")
STOP_TARGET = 2.0  # ms, median
IDLE_TARGET = 1.0  # % of one core, 256 idle handles
GET_TARGET = 20.0  # ms, median GET latency with 1024 handles


def _child(args, timeout):
    # The result is one JSON line of every round's times: longer than the
    # 2,000 characters a Child keeps of a line by default.
    with Child([CHILD] + [str(a) for a in args], env=child_env(), cwd=HERE, line_length=1 << 20) as child:
        match = child.wait_for(_RESULT, timeout)
        code = child.wait_exit(timeout)
        if code != 0:
            raise RuntimeError("_serve_child %s exited %s:\n%s" % (args, code, child.output()))
    return json.loads(match.group(1))


def run(quick=False):
    rounds = 50 if quick else 200
    idle_seconds = 1.0 if quick else 3.0
    figures = []

    say("== S-stop: serve(), one GET, stop(); %d rounds in one process" % rounds)
    result = _child(["stop", rounds], 300)
    stops = [s * 1e3 for s in result["stop_s"]]
    starts = summarize([s * 1e3 for s in result["serve_s"]])
    say("   serve() median %.2f ms (IQR %.2f-%.2f); stop() median %.2f ms; port still taken after stop(): %d of %d"
        % (starts.median, starts.q1, starts.q3, summarize(stops).median, result["port_not_free"], rounds))
    stop = figure("S-stop", "S-stop Server.stop(), wall ms", stops, "<= %.1f, port free" % STOP_TARGET, None, fmt="%.2f")
    stop["met"] = stop["median"] <= STOP_TARGET and result["port_not_free"] == 0
    stop["detail"] = result
    figures.append(stop)

    say("== S-idle: 256 idle serve() handles, the process's CPU over %.0f s" % idle_seconds)
    result = _child(["idle", 256, idle_seconds], 300)
    share = result["idle_core_share"] * 100
    say("   %.3f%% of one core (%d handles)" % (share, result["handles"]))
    idle = figure("S-idle", "S-idle 256 idle handles, % of one core", [share], "< %.0f" % IDLE_TARGET, None)
    idle["met"] = share < IDLE_TARGET
    idle["detail"] = result
    figures.append(idle)

    count = 256 if quick else 1024
    say("== S-%d: %d serve() handles at once, one GET to each" % (count, count))
    try:
        result = _child(["many", count, idle_seconds], 600)
    except Exception as exc:  # e.g. the descriptor limit: say so in the table
        say("   failed: %s" % (exc,))
        failed = figure("S-%d" % count, "S-%d GET latency with %d handles, ms" % (count, count), [], "<= %.0f" % GET_TARGET, False,
                        note=str(exc)[:200])
        figures.append(failed)
        return figures
    latencies = [s * 1e3 for s in result["get_s"]]
    s = summarize(latencies)
    ordered = sorted(latencies)
    say("   descriptors: needed %s, soft limit %s, hard limit %s" % (result["fd_needed"], result["fd_soft"], result["fd_hard"]))
    say("   started all in %.2f s; idle CPU while held: %.3f%% of one core; stopped all in %.2f s"
        % (result["start_all_s"], result["idle_core_share"] * 100, result["stop_all_s"]))
    say("   GET latency median %.2f ms (IQR %.2f-%.2f, p90 %.2f, max %.2f)"
        % (s.median, s.q1, s.q3, ordered[int(0.9 * (len(ordered) - 1))], s.max))
    many = figure("S-%d" % count, "S-%d GET latency with %d handles, ms" % (count, count), latencies,
                  "<= %.0f" % GET_TARGET, None, fmt="%.2f")
    many["met"] = many["median"] <= GET_TARGET and result["handles"] == count
    many["detail"] = dict((k, v) for k, v in result.items() if k != "get_s")
    figures.append(many)
    return figures
