"""A WSGI app whose ``/drip`` answers 200 at once, then its body one byte a
second (600 bytes: ten minutes), for the check's wall-clock ``--timeout``."""

import time

LENGTH = 600


def app(environ, start_response):
    if environ.get("PATH_INFO") != "/drip":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(LENGTH))])
    return _drip()


def _drip():
    for _ in range(LENGTH):
        yield b"x"
        time.sleep(1)
