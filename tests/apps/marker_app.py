"""A WSGI app that leaves a mark when imported: the file named by
``MARKER_APP_FILE`` (a usage error must start no child: no mark)."""

import os

with open(os.environ["MARKER_APP_FILE"], "w") as _f:
    _f.write("imported\n")


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
