"""The built-in check's child: serve a small app on an ephemeral loopback port.

``portfix check`` (without ``--app``) runs ``python -c "from
portfix._check_child import main; main()"``.  The child holds its lifeline,
imports portfix and Flask, prints which defects portfix patched here (the
parent reads that line instead of importing Flask and Werkzeug itself to ask
``portfix.status()``), then runs the app with ``app.run(host="127.0.0.1",
port=0, use_reloader=False)`` (``run_simple`` when Flask is absent).

This module imports nothing of the parent's side (``_process``, with its
``subprocess``): what it loads is on the check's critical path.
"""

import re

from ._lifeline import hold_lifeline

HOST = "127.0.0.1"
BODY = b"portfix check ok"

# The line the child prints before it serves: the ids of the defects and
# features ``portfix.status()`` reports as applied, comma-separated (empty:
# nothing patched).
PATCHED_LINE = "portfix check child: patched here: %s"
PATCHED = re.compile(r"\Aportfix check child: patched here: ([\w,-]*)\Z")


def _wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def main():
    """Run the check's app (in the child); returns only if the server stops."""
    hold_lifeline()
    import portfix  # the point of the check

    try:
        from flask import Flask
    except ImportError:
        Flask = None
    # Asked after Flask is imported: status() then also patches what waited
    # for werkzeug.serving (which app.run imports anyway), as the check needs.
    patched = [r.defect for r in portfix.status() if r.applied]
    print(PATCHED_LINE % ",".join(patched), flush=True)
    if Flask is None:
        from werkzeug.serving import run_simple

        run_simple(HOST, 0, _wsgi_app)
        return
    app = Flask("portfix_check")
    app.add_url_rule("/", "index", lambda: BODY)
    # No reloader, whatever FLASK_DEBUG or FLASK_ENV say: it would re-run
    # this child's command line, "-c ...", which fails ("Argument expected
    # for the -c option"), and the check needs none.
    app.run(host=HOST, port=0, use_reloader=False)
