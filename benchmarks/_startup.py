"""The start-up benchmark's child: the CPU a process spends up to its first served request.

    python _startup.py PORT [--portfix]

Imports Flask, then (with --portfix) portfix, then ``werkzeug.serving``
(where portfix's post-import hook builds the Werkzeug patches, timed on its
own by wrapping the hook's ``run()``), then runs a one-route app with
``app.run(host="127.0.0.1", port=PORT)``, unthreaded, no reloader.  The view
prints, once, CPU times (``time.process_time()``) in seconds::

    STARTUP flask=<s> portfix=<s> serving=<s> hook=<s> rest=<s>

``rest`` runs from after the import of werkzeug.serving to the first request:
the app, ``app.run`` (patched by portfix or not), the server, the request.
Importing werkzeug.serving before ``app.run`` (which would import it anyway)
keeps its 20 ms out of ``rest``, whose difference with and without portfix is
then a fraction of a millisecond, not lost in the import's noise.  A full
collection between the parts (outside the clock) leaves no collector debt
from one part to the next: a part pays only for collections its own
allocations trigger, in both variants alike.  Python 3.6 compatible, stdlib
+ Flask only.
"""

import gc
import sys
import time

clock = time.process_time
start = clock()
import flask  # noqa: E402

after_flask = clock()
gc.collect()
before_portfix = clock()
if "--portfix" in sys.argv:
    import portfix  # noqa: F401,E402
after_portfix = clock()

from _hooktime import time_hook  # noqa: E402 - after the imports it must not time

hook, _ = time_hook(clock)
gc.collect()
before_serving = clock()
import werkzeug.serving  # noqa: E402,F401

after_serving = clock()
gc.collect()
before_rest = clock()


def main():
    app = flask.Flask("startup")
    reported = []

    @app.route("/")
    def index():
        if not reported:
            now = clock()
            reported.append(now)
            sys.stdout.write("STARTUP flask=%r portfix=%r serving=%r hook=%r rest=%r\n" % (
                after_flask - start, after_portfix - before_portfix, after_serving - before_serving, hook[0],
                now - before_rest))
            sys.stdout.flush()
        return "ok"

    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=False, use_reloader=False, debug=False)


if __name__ == "__main__":
    main()
