"""32 serve() handles and 8 ``portfix check --app`` runs started at once: every
port distinct, zero failures (the machine has 2 cores)."""

import json
import os
import subprocess
import sys
import threading

import portfix
from _support import http_get, installed

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
MODULE = "legacy_app" if installed("flask") else "wsgi_app"
HANDLES, CHECKS = 32, 8


def app(environ, start_response):
    body = environ["PATH_INFO"].encode("ascii")
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def test_32_serve_handles_and_8_checks_at_once():
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    barrier = threading.Barrier(HANDLES + 1)
    handles, failures = [None] * HANDLES, []

    def start_one(i):
        barrier.wait(30)
        try:
            handles[i] = portfix.serve(app)
        except Exception as exc:  # counted, not raised in a thread
            failures.append(repr(exc))

    threads = [threading.Thread(target=start_one, args=(i,)) for i in range(HANDLES)]
    for thread in threads:
        thread.start()
    checks = []
    try:
        barrier.wait(30)  # the handles start now, and the checks with them
        checks = [
            subprocess.Popen([sys.executable, "-m", "portfix", "check", "--app", MODULE + ":app",
                              "--path", "/health", "--json", "--timeout", "90"],
                             cwd=APPS, env=env, stdout=subprocess.PIPE, universal_newlines=True)
            for _ in range(CHECKS)
        ]
        for thread in threads:
            thread.join(60)
        served = [h for h in handles if h is not None]
        for i, handle in enumerate(served):
            if http_get(handle.port, "/%d" % i) != (200, "/%d" % i):
                failures.append("handle %d on %d" % (i, handle.port))
        reports = [json.loads(check.communicate(timeout=120)[0]) for check in checks]
    finally:
        for check in checks:
            if check.poll() is None:
                check.kill()
                check.wait(10)
        for handle in handles:
            if handle is not None:
                handle.stop()
    failures += [r["error"] or r["paths"] for r in reports if not r["ok"]]
    ports = [h.port for h in served] + [r["port"] for r in reports]
    assert failures == []
    assert len(served) == HANDLES and len(reports) == CHECKS
    assert len(set(ports)) == HANDLES + CHECKS, sorted(ports)
    assert 0 not in ports and None not in ports
