"""A WSGI app for the signal tests: its process group has a second process,
and ``/hold`` tells the test it is being requested, then holds the request.

At import it starts a grandchild (``sleep``) in its own process group, as a
reloader's worker would be.  ``/hold`` writes ``"<pid> <grandchild pid>\\n"``
to the file named by ``SERVING_APP_READY`` (by a rename: the test never reads
half of it), then sleeps up to 60 s: the check is in its GET meanwhile.
"""

import os
import subprocess
import sys
import time

GRANDCHILD = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/hold":
        ready = os.environ["SERVING_APP_READY"]
        with open(ready + ".tmp", "w") as f:
            f.write("%d %d\n" % (os.getpid(), GRANDCHILD.pid))
        os.rename(ready + ".tmp", ready)
        time.sleep(60)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
