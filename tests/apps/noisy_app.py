"""A WSGI app that writes a lot before it listens, for the check's bounded
memory: ``NOISY_APP_MB`` MB (default 50) of 100-byte lines, then one line of
``NOISY_APP_LINE_MB`` MB (default 20) without a newline until its end.

``/`` writes the VmHWM line of its parent (the check) from
``/proc/<ppid>/status`` to the file named by ``NOISY_APP_REPORT``: by then
the check has read all that output (a pipe holds 64 KB; the writes blocked
until it did).
"""

import os
import sys

_LINES = (b"x" * 99 + b"\n") * 1000  # 100 KB a write: the reader, not the writer, is tested
_out = getattr(sys.stdout, "buffer", sys.stdout)
for _ in range(int(float(os.environ.get("NOISY_APP_MB", "50")) * 10)):
    _out.write(_LINES)
_chunk = b"y" * 65536
for _ in range(int(float(os.environ.get("NOISY_APP_LINE_MB", "20")) * 16)):
    _out.write(_chunk)
_out.write(b"\n")
_out.flush()


def app(environ, start_response):
    with open("/proc/%d/status" % os.getppid()) as f:
        peak = [line for line in f if line.startswith("VmHWM:")]
    with open(os.environ["NOISY_APP_REPORT"], "w") as f:
        f.write("".join(peak))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
