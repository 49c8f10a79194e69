import os
import sys

# The helpers in tests/_support.py are imported by name from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import signal  # noqa: E402

# The tests send SIGINT, SIGHUP and SIGTERM to their children as a terminal or
# a harness would.  A command that a non-interactive shell starts in the
# background (`cmd &`) ignores SIGINT, one under `nohup` ignores SIGHUP, and
# an ignored signal stays ignored across fork and exec: the children would
# then ignore them too (a `flask run` child that never stops on Ctrl-C).  The
# tests' own process takes them back to their defaults, so that every child
# starts as one started from a terminal does.
for _signum, _default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGHUP, signal.SIG_DFL),
                          (signal.SIGTERM, signal.SIG_DFL)):
    if signal.getsignal(_signum) == signal.SIG_IGN:
        signal.signal(_signum, _default)
