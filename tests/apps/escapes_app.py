"""Apps whose output holds terminal escape sequences (a title change, a
screen clear, a forged line), for the check's escaping of what it shows.

``app``: ``/`` writes them to stderr and answers 500.  ``crashing``: its
``run()`` writes them and exits with code 4 before listening.
"""

import sys

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\rportfix check: ok\n"


def app(environ, start_response):
    sys.stderr.write(HOSTILE)
    sys.stderr.flush()
    start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"fail"]


class _Crashing(object):
    def run(self, **options):
        sys.stderr.write(HOSTILE)
        sys.stderr.flush()
        sys.exit(4)


crashing = _Crashing()
