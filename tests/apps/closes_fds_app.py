"""A WSGI app that, at import, closes every file descriptor above stderr and
opens /dev/null, as code that daemonizes or sandboxes itself does: the
lowest free number, which the check's lifeline had, now names /dev/null."""

import os

os.closerange(3, 1024)
os.open(os.devnull, os.O_RDWR)


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
