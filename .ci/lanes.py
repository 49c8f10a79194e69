"""Run nox sessions in lanes side by side, longest first by their measured times.

    python .ci/lanes.py --times .ci/session-times --lanes 3 --logs DIR [--limit SECONDS] [--grace SECONDS] NOX < sessions

Reads the session names (one a line) on stdin and the measured seconds per
session from --times (lines "SECONDS NAME  # comment"; this script prints
them in that format for the run it made).  The sessions wait in one queue,
longest first; each lane takes the next one whenever it is free and runs it
(``NOX --sessions NAME``).  Unlike a split made in advance from the measured
times, a session that runs longer or shorter than measured (the machine's
speed moves) delays only its own lane's next pick, and the lanes end close
together.  A session missing from --times counts as the median of the
measured ones and is named.

Each lane writes its output to DIR/LANE.log.  Prints, per session, the wall
time and the CPU time of nox and everything it waited for (the tests and
their children), then each lane's total and how busy the machine's cores
were.  Exits 1 when a session failed, ran out of time or did not run, or
when no session was given.

A session still running --limit seconds after it started (default 1,800:
the longest measured one takes under 160) is stopped as a signal stops it
(below) and counts as failed: a hung test or install cannot hold the run.

Each session runs in a process group of its own.  SIGINT, SIGTERM or SIGHUP
empties the queue and sends SIGINT to each running session's group, as a
terminal's Ctrl-C would: nox and its pytest (whose tests then stop their
children; noxfile.py gives pytest the time) get it, once: a second SIGINT
would cut short nox's wait for pytest.  A session whose nox still runs
--grace seconds later (default 60) is killed with its group.  The run then exits 128 +
the signal's number.  Whenever a session's nox ends (on its own, by SIGINT or
killed), whatever is left in its group is killed at once and named.  A
SIGKILL of this script leaves the sessions running.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time


def read_times(path):
    times = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                seconds, name = line.split(None, 1)
                times[name] = float(seconds)
    return times


def queue(sessions, times):
    """(the sessions longest first, their expected total seconds, sessions without a measured time)."""
    known = sorted(times[name] for name in sessions if name in times)
    default = known[len(known) // 2] if known else 1.0
    cost = dict((name, times.get(name, default)) for name in sessions)
    ordered = sorted(sessions, key=lambda n: (-cost[n], n))
    return ordered, sum(cost.values()), [name for name in sessions if name not in times]


def run_lane(nox, waiting, lock, running, log_path, results):
    """Take sessions from the front of *waiting* until it is empty, one at a
    time; append (name, wall, cpu, returncode) to *results*.  *running*: pid
    -> (name, monotonic start) of the sessions running now, shared by the
    lanes."""
    with open(log_path, "ab") as log:
        while True:
            with lock:
                if not waiting:
                    return
                name = waiting.pop(0)
                began = time.monotonic()
                # Started under the lock: a signal's handler, which takes it
                # too, sees every session either waiting or running.
                child = subprocess.Popen([nox, "--sessions", name], stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
                running[child.pid] = (name, began)
            # wait4: this child's CPU time with all it waited for, whatever the other lanes do.
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
            with lock:
                del running[child.pid]
            # nox has ended (and waited for its pytest, or gave up on it):
            # whatever is left in its group is a leak or ignored SIGINT.
            if _send(child.pid, signal.SIGKILL):
                print("lanes: processes of %s were left in its group after nox ended: killed" % name)
                sys.stdout.flush()
            results.append((name, time.monotonic() - began, usage.ru_utime + usage.ru_stime, child.returncode))


def _send(pid, signum):
    """Signal the process group a session leads (its pid is the group's id);
    False when no process of it is left."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return False
    return True


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", required=True)
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--limit", type=float, default=1800.0, help="seconds a session may run (default 1800)")
    parser.add_argument("--grace", type=float, default=60.0,
                        help="seconds a session has to end after the SIGINT passed on to it (default 60)")
    parser.add_argument("nox")
    args = parser.parse_args(argv[1:])
    if args.lanes < 1:
        parser.error("--lanes must be at least 1, not %r" % args.lanes)
    for option in ("limit", "grace"):
        if not 0 < getattr(args, option) < float("inf"):
            parser.error("--%s must be a positive number of seconds, not %r" % (option, getattr(args, option)))
    sessions = [line.strip() for line in sys.stdin if line.strip()]
    if not sessions:  # `nox --list` found none: a run of nothing is no pass
        print("lanes: no sessions to run")
        return 1
    waiting, expected, missing = queue(sessions, read_times(args.times))
    for name in missing:
        print("lanes: no measured time for %s: counted as the median" % name)
    print("lanes: %d sessions, %.0f s measured in all, in %d lanes taking the longest waiting one when free"
          % (len(waiting), expected, args.lanes))
    sys.stdout.flush()

    # Reentrant: the signal handler takes it in the main thread, which may hold it already.
    lock = threading.RLock()
    running = {}
    results = [[] for _ in range(args.lanes)]
    caught = []  # the signal that stopped the run, once one came
    # pid -> monotonic time its group was passed SIGINT, once only (a second
    # SIGINT cuts short nox's wait for pytest's clean-up), for a signal or
    # --limit.  Only the loop below signals the sessions.
    interrupted = {}
    overdue = set()  # the sessions stopped for running past --limit

    def stop(signum, frame):
        with lock:
            if not caught:
                caught.append(signum)
                del waiting[:]

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    started = time.monotonic()
    threads = [
        threading.Thread(target=run_lane, args=(args.nox, waiting, lock, running,
                                                os.path.join(args.logs, "lane-%d.log" % (i + 1)), results[i]))
        for i in range(args.lanes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            # Woken now and then: the main thread runs the signal handler, and
            # this loop passes a signal on (within 0.5 s) and keeps --limit.
            thread.join(0.5)
            now = time.monotonic()
            with lock:
                now_running = list(running.items())
            for pid, (name, began) in now_running:
                if pid in interrupted:
                    if now > interrupted[pid] + args.grace:
                        _send(pid, signal.SIGKILL)
                elif caught or now > began + args.limit:
                    if not caught:
                        print("lanes: %s still running after %g s (--limit): stopped" % (name, args.limit))
                        sys.stdout.flush()
                        overdue.add(name)
                    interrupted[pid] = now
                    _send(pid, signal.SIGINT)
    wall = time.monotonic() - started
    if caught:
        signum = caught[0]
        print("lanes: stopped by %s: %d session(s) started (and were passed SIGINT or ended), %d never did"
              % (signal.Signals(signum).name, sum(len(r) for r in results), len(sessions) - sum(len(r) for r in results)))
        return 128 + signum

    print("\n== seconds per session, longest first (the format of .ci/session-times; CPU: nox and all it waited for)")
    everything = [(lane + 1,) + row for lane, rows in enumerate(results) for row in rows]
    for lane, name, seconds, cpu, code in sorted(everything, key=lambda row: -row[2]):
        said = "FAILED (ran past --limit)" if name in overdue else "ok" if code == 0 else "FAILED (%d)" % code
        print("%.0f %s  # lane %d, CPU %.0f s, %s" % (seconds, name, lane, cpu, said))
    for lane, rows in enumerate(results):
        print("lane %d: %.0f s, CPU %.0f s, %d sessions" % (
            lane + 1, sum(r[1] for r in rows), sum(r[2] for r in rows), len(rows)))
    cpu = sum(r[2] for rows in results for r in rows)
    cores = os.cpu_count() or 1
    print("wall %.0f s; CPU %.0f s: the %d cores were %.0f%% busy with the sessions" % (wall, cpu, cores, 100.0 * cpu / (cores * wall)))
    ran = set(r[0] for rows in results for r in rows)
    unrun = [name for name in sessions if name not in ran]
    if unrun:  # a lane died (nox could not start?): its traceback is above
        print("lanes: %d session(s) did not run: %s" % (len(unrun), ", ".join(unrun)))
        return 1
    return 1 if overdue or any(r[3] != 0 for rows in results for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
