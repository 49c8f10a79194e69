"""A WSGI app for the signal tests: its process group has a second process,
and ``/hold`` tells the test it is being requested, then holds the request.

At import it starts a grandchild (``sleep``) in its own process group, as a
reloader's worker would be.  ``/hold`` writes ``"<pid> <grandchild pid>\\n"``
to the file named by ``SERVING_APP_READY`` (by a rename: the test never reads
half of it), then sleeps up to 60 s: the check is in its GET meanwhile.

With ``SERVING_APP_LINGER`` set, the grandchild is a member of the group that
takes its time to stop: it creates that name + ``.armed`` once it handles
SIGTERM, and answers SIGTERM by writing that file, then exiting 0.5 s later.
"""

import os
import subprocess
import sys
import time

LINGER = """
import os, signal, sys, time
def on_term(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\\n" % os.getpid())
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(0.5)
    os._exit(0)
if len(sys.argv) > 1:
    signal.signal(signal.SIGTERM, on_term)
    open(sys.argv[1] + ".armed", "w").close()
time.sleep(60)
"""

_LINGER_FILE = os.environ.get("SERVING_APP_LINGER")
GRANDCHILD = subprocess.Popen([sys.executable, "-c", LINGER] + ([_LINGER_FILE] if _LINGER_FILE else []))


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/hold":
        ready = os.environ["SERVING_APP_READY"]
        with open(ready + ".tmp", "w") as f:
            f.write("%d %d\n" % (os.getpid(), GRANDCHILD.pid))
        os.rename(ready + ".tmp", ready)
        time.sleep(60)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
