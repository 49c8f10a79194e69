"""P4 parallel: N app instances started at once, each choosing its own port.

portfix: every child imports portfix and runs ``app.run(host="127.0.0.1",
port=0)``.  picker: every child runs without portfix and does what
pytest-flask's ``live_server`` does: bind a socket to port 0 on 127.0.0.1,
read the port, close the socket, then ``app.run(port=that_port)``.

All N children are started back to back; then each one's "Running on" line
is awaited and GET / must return 200 with that child's own tag.  A failure is
a child that crashed or never answered 200 with its tag before the round's
deadline.  For the picker, a collision is two children that picked the same
port, a child whose bind failed with EADDRINUSE (another process took its
port between close and bind), or a child whose port answered with another
instance's tag.  Wall time runs from the first Popen to the last child
answered (or given up).
"""

import contextlib
import re

from _common import (
    HERE, RUNNING_ON, Child, ChildTimeout, address_in_use, app_argv, child_env, clock, figure, get, say, summarize,
)

_PICKED = re.compile(r"^picked (\d+)$", re.M)


def _round(n, variant, timeout):
    portfix = variant == "portfix"
    children = []
    records = []
    with contextlib.ExitStack() as stack:
        start = clock()
        for i in range(n):
            argv = app_argv(0, portfix, pick=not portfix, tag="instance-%d" % i)
            children.append(stack.enter_context(Child(argv, env=child_env(), cwd=HERE)))
        deadline = start + timeout
        for i, child in enumerate(children):
            record = {"tag": "instance-%d" % i, "port": None, "ok": False, "error": None, "wrong_instance": False}
            try:
                match = child.wait_for(RUNNING_ON, max(0.1, deadline - clock()))
                record["port"] = int(match.group(3))
                status, body = get(record["port"], deadline)
                record["ok"] = status == 200 and body == record["tag"]
                record["wrong_instance"] = status == 200 and body != record["tag"]
                if not record["ok"]:
                    record["error"] = "GET / -> %s %r" % (status, body[:40])
            except (ChildTimeout, OSError) as exc:
                record["error"] = str(exc).splitlines()[0]
            records.append(record)
        wall = clock() - start
    for child, record in zip(children, records):  # stopped: all output is in
        output = child.output()
        picked = _PICKED.search(output)
        record["picked"] = int(picked.group(1)) if picked else None
        record["eaddrinuse"] = address_in_use(output)
        if not record["ok"]:
            record["output_tail"] = output.splitlines()[-3:]
    ports = [r["port"] for r in records if r["port"]]
    picks = [r["picked"] for r in records if r["picked"]]
    result = {
        "variant": variant,
        "n": n,
        "wall_seconds": wall,
        "distinct_ports": len(set(ports)),
        "failures": sum(1 for r in records if not r["ok"]),
        "eaddrinuse": sum(1 for r in records if r["eaddrinuse"]),
        "wrong_instance": sum(1 for r in records if r["wrong_instance"]),
        "duplicate_picks": len(picks) - len(set(picks)),
        "children": records,
    }
    # Each clash counts once: a child whose bind failed with EADDRINUSE or
    # whose port answered with another tag; and, of k children that picked
    # the same port, k - 1 (the clash usually shows as EADDRINUSE in one).
    clashed = set(i for i, r in enumerate(records) if r["eaddrinuse"] or r["wrong_instance"])
    collisions = len(clashed)
    by_pick = {}
    for i, record in enumerate(records):
        if record["picked"] is not None:
            by_pick.setdefault(record["picked"], set()).add(i)
    for members in by_pick.values():
        collisions += max(0, len(members) - 1 - len(members & clashed))
    result["collisions"] = collisions
    return result


def run(quick=False, sizes=(8, 16, 32)):
    rounds = 1 if quick else 3
    say("== P4 parallel: N instances at once, portfix port=0 vs bind-close-rebind picker, %d round(s) per N" % rounds)
    figures = []
    details = []
    for n in sizes:
        per = {"portfix": [], "picker": []}
        for index in range(rounds):
            order = ("portfix", "picker") if index % 2 == 0 else ("picker", "portfix")
            for variant in order:
                outcome = _round(n, variant, timeout=30.0 + 2.0 * n)
                per[variant].append(outcome)
                details.append(outcome)
                say("   N=%-2d round %d %-7s: %2d distinct ports, %d failed, %d collisions (%d EADDRINUSE, %d duplicate picks), wall %.2f s"
                    % (n, index + 1, variant, outcome["distinct_ports"], outcome["failures"], outcome["collisions"],
                       outcome["eaddrinuse"], outcome["duplicate_picks"], outcome["wall_seconds"]))
                for record in outcome["children"]:
                    if not record["ok"]:
                        say("      %s: %s | %s" % (record["tag"], record["error"], " / ".join(record.get("output_tail", []))))
        fixed = per["portfix"]
        all_distinct = all(o["distinct_ports"] == n for o in fixed)
        entry = figure(
            "P4-%d-portfix" % n,
            "P4 N=%d portfix: failed children per round (distinct ports %s)" % (n, "/".join(str(o["distinct_ports"]) for o in fixed)),
            [o["failures"] for o in fixed], "0 failed, %d distinct" % n, None, fmt="%.0f",
        )
        entry["met"] = all_distinct and all(o["failures"] == 0 for o in fixed)
        figures.append(entry)
        picker = per["picker"]
        figures.append(figure(
            "P4-%d-picker" % n,
            "P4 N=%d picker: collisions per round (failed %s)" % (n, "/".join(str(o["failures"]) for o in picker)),
            [o["collisions"] for o in picker], "info", None, fmt="%.0f",
        ))
        figures.append(figure(
            "P4-%d-wall" % n,
            "P4 N=%d wall time ratio portfix/picker (portfix median %.2f s)" % (n, summarize([o["wall_seconds"] for o in fixed]).median),
            [a["wall_seconds"] / b["wall_seconds"] for a, b in zip(fixed, picker)], "info", None,
        ))
    figures[0]["detail"] = {"rounds": details}
    return figures
