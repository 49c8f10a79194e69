"""Count, by hand, how often ``flask run --port 0`` writes the port file: 20 runs per mode.

Not a test (CI runs a few runs per mode in tests/test_flask_run.py); the
figures for a release note.  Run it with a cell's interpreter:

    PYTHONPATH=src .nox/cell-fl1-0-2-wz0-14-1/bin/python tests/flask_run_counts.py [--runs 20]

Modes: under ``portfix run`` (the app does not import portfix), and, for
contrast, ``import portfix`` at the top of the app without ``portfix run``
(Flask <= 1.0 loads the app lazily in a thread with the reloader: racy).
Each run waits for the "Running on" line, GETs ``/`` (which loads a lazily
loaded app), then gives the port file 3 s to appear, and stops the server by
its process group.
"""

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _runner import FLASK, FLASK_APP, START_TIMEOUT, portfix_run  # noqa: E402
from _support import http_get, installed, wait_running_on  # noqa: E402
from portfix._portfile import read_port_file  # noqa: E402
from portfix._process import Child  # noqa: E402

ENV = {"FLASK_APP": "app.py", "FLASK_DEBUG": None, "FLASK_ENV": None, "FLASK_RUN_PORT": None,
       "PORTFIX_DISABLE": None, "PORTFIX_PORT_FILE": None}


def one_run(mode, reload):
    folder = tempfile.mkdtemp(prefix="portfix-counts-")
    try:
        port_file = os.path.join(folder, "port")
        command = [FLASK, "run", "--host", "127.0.0.1", "--port", "0", "--reload" if reload else "--no-reload"]
        with open(os.path.join(folder, "app.py"), "w") as f:
            f.write(("import portfix\n" if mode == "import" else "") + FLASK_APP)
        if mode == "run":
            child = portfix_run(["--port-file", port_file, "--"] + command, env=ENV, cwd=folder)
        else:
            child = Child(command, env=dict(ENV, PORTFIX_PORT_FILE=port_file), cwd=folder)
        with child:
            announced = wait_running_on(child, START_TIMEOUT)
            status = http_get(announced)[0] if announced else None
            deadline = time.monotonic() + 3
            while read_port_file(port_file) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            written = read_port_file(port_file)
        return written is not None, written == announced and announced not in (0, 5000), status == 200
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print("Python %s, Flask %s, Werkzeug %s" % (platform.python_version(), installed("flask"), installed("werkzeug")))
    print("%-58s %10s %16s %8s" % ("mode", "port file", "file = announced", "GET 200"))
    for mode, label in (("run", "portfix run -- flask run --port 0"),
                        ("import", "flask run --port 0, app imports portfix")):
        for reload in (False, True):
            counts = [0, 0, 0]
            for _ in range(args.runs):
                for i, ok in enumerate(one_run(mode, reload)):
                    counts[i] += ok
            shown = "%s %s" % (label, "--reload" if reload else "--no-reload")
            print("%-58s %10s %16s %8s" % (shown, "%d/%d" % (counts[0], args.runs), "%d/%d" % (counts[1], args.runs),
                                             "%d/%d" % (counts[2], args.runs)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
