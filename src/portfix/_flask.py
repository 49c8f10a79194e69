"""The ``Flask.run`` patch (Flask < 2.0): resolve the port as Flask >= 2.0 does.

The replacement resolves and validates the port, then delegates everything
else (``FLASK_RUN_FROM_CLI``, dotenv, debug flags, banner, option defaults,
the first-request reset, the call-time import of ``run_simple``) to the
original ``Flask.run``.
"""

import functools
import os


def make_run(original, active):
    """Build the replacement for *original* ``Flask.run``.

    Args:
        original (function): the pristine ``Flask.run``.
        active (frozenset of str): defect ids that apply (``"D1"``...).

    Returns:
        function: ``run(self, host=None, port=None, *args, **options)``,
        raising TypeError/ValueError naming a bad port or SERVER_NAME before
        anything binds.
    """
    # Flask 1.0-1.0.4 computes int(port or sn_port or 5000), so an int 0 is
    # dropped as falsy (pallets/flask#2926, fixed in 1.1.0 by PR #2928).  The
    # str "0" is truthy and int("0") == 0: passing it keeps the original's own
    # code path and reaches run_simple as the int 0.
    zero = "0" if "D1" in active else 0
    # Flask >= 1.0 returns at once under `flask run` (FLASK_RUN_FROM_CLI=true)
    # and ignores the port: keep that, errors included.  Flask < 1.0 (the
    # releases D2 applies to) has no such early return and must not skip the
    # validation because of a stray variable.
    cli_returns_early = "D2" not in active

    @functools.wraps(original)
    def run(self, host=None, port=None, *args, **options):
        if cli_returns_early and os.environ.get("FLASK_RUN_FROM_CLI") == "true":
            return original(self, host, port, *args, **options)
        # Passing the resolved port also keeps Flask 1.1's int('') (D3) and
        # Flask 0.x's str pass-through (D2) from being reached.  (_ports is
        # loaded here, not at `import portfix`: the Werkzeug patches load it
        # too, when werkzeug.serving is imported.)
        from ._ports import resolve_port

        resolved = resolve_port(port, self.config.get("SERVER_NAME"))
        return original(self, host, zero if resolved == 0 else resolved, *args, **options)

    return run

