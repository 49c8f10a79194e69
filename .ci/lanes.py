"""Split nox sessions into two lanes of about equal measured time.

    python .ci/lanes.py TIMES LANE_A LANE_B < sessions

Reads the session names (one a line) on stdin and TIMES, the measured
seconds per session (lines "SECONDS NAME"; .ci/run prints them after each run
in this format).  Longest first, each session goes to the lane with the least
time so far (the greedy longest-processing-time split), and each lane keeps
that order, so that the long sessions start first.  A session missing from
TIMES counts as the median of the measured ones and is named on stderr.
Writes the two lanes' session names, one a line, to LANE_A and LANE_B, and
the expected time of each lane to stderr.
"""

import sys


def read_times(path):
    times = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                seconds, name = line.split(None, 1)
                times[name] = float(seconds)
    return times


def split(sessions, times):
    known = sorted(times[name] for name in sessions if name in times)
    default = known[len(known) // 2] if known else 1.0
    cost = dict((name, times.get(name, default)) for name in sessions)
    lanes = ([], [])
    totals = [0.0, 0.0]
    for name in sorted(sessions, key=lambda n: (-cost[n], n)):
        lane = 0 if totals[0] <= totals[1] else 1
        lanes[lane].append(name)
        totals[lane] += cost[name]
    missing = [name for name in sessions if name not in times]
    return lanes, totals, missing


def main(argv):
    times_path, out_a, out_b = argv[1:4]
    sessions = [line.strip() for line in sys.stdin if line.strip()]
    lanes, totals, missing = split(sessions, read_times(times_path))
    for path, lane in zip((out_a, out_b), lanes):
        with open(path, "w") as f:
            f.write("".join(name + "\n" for name in lane))
    for name in missing:
        sys.stderr.write("lanes: no measured time for %s: counted as the median\n" % name)
    sys.stderr.write("lanes: expected %.0f s and %.0f s of sessions (%d and %d sessions)\n"
                     % (totals[0], totals[1], len(lanes[0]), len(lanes[1])))


if __name__ == "__main__":
    main(sys.argv)
