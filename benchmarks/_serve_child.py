"""The serve() benchmark's child: ``portfix.serve()`` handles measured from inside one process.

    python _serve_child.py stop N        # N serve() + GET + stop(), timing serve() and stop()
    python _serve_child.py idle N SECS   # N idle handles: the process's CPU over SECS seconds
    python _serve_child.py many N SECS   # N handles at once: idle CPU, then one GET to each, timed

Prints one line ``SERVE <json>`` and exits.  Every server binds 127.0.0.1
port 0.  ``many`` raises the soft descriptor limit to what N handles need
(up to the hard limit) and reports both.  Python 3.6 compatible, stdlib +
portfix only.
"""

import http.client
import json
import socket
import sys
import time

import portfix

clock = time.perf_counter
cpu = time.process_time


def app(environ, start_response):
    body = environ["PATH_INFO"].encode("ascii")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode("ascii")
    finally:
        connection.close()
    if response.status != 200 or body != path:
        raise RuntimeError("GET %s on %d -> %s %r" % (path, port, response.status, body))


def port_is_free(port):
    """True when a listening socket can take the port at once (SO_REUSEADDR, as servers bind)."""
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen(1)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def stop_times(count):
    starts, stops, not_free = [], [], 0
    for i in range(count):
        started = clock()
        handle = portfix.serve(app)
        starts.append(clock() - started)
        get(handle.port, "/%d" % i)
        started = clock()
        handle.stop()
        stops.append(clock() - started)
        if not port_is_free(handle.port):
            not_free += 1
    return {"serve_s": starts, "stop_s": stops, "port_not_free": not_free}


def descriptors(count):
    """Raise the soft RLIMIT_NOFILE for *count* handles; return (soft, hard, needed)."""
    try:
        import resource
    except ImportError:  # Windows
        return None, None, None
    needed = 3 * count + 256  # listening socket + wakeup pair each, and a margin
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft, hard, needed


def idle_cpu(seconds):
    """The process's CPU time over *seconds* of wall time, as a share of one core."""
    time.sleep(0.5)  # let the last requests' threads finish
    started_cpu, started = cpu(), clock()
    time.sleep(seconds)
    return (cpu() - started_cpu) / (clock() - started)


def many(count, seconds, get_each=True):
    soft, hard, needed = descriptors(count)
    handles = []
    result = {"count": count, "fd_soft": soft, "fd_hard": hard, "fd_needed": needed}
    try:
        started = clock()
        for _ in range(count):
            handles.append(portfix.serve(app))
        result["start_all_s"] = clock() - started
        result["idle_core_share"] = idle_cpu(seconds)
        if get_each:
            latencies = []
            for i, handle in enumerate(handles):
                started = clock()
                get(handle.port, "/%d" % i)
                latencies.append(clock() - started)
            result["get_s"] = latencies
    finally:
        started = clock()
        for handle in handles:
            handle.stop()
        result["stop_all_s"] = clock() - started
    result["handles"] = len(handles)
    return result


def main(argv):
    mode, count = argv[0], int(argv[1])
    if mode == "stop":
        result = stop_times(count)
    elif mode == "idle":
        result = many(count, float(argv[2]), get_each=False)
    elif mode == "many":
        result = many(count, float(argv[2]))
    else:
        raise SystemExit("unknown mode %r" % mode)
    sys.stdout.write("SERVE " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
