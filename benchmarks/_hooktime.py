"""Time portfix's post-import hook inside a benchmark child.

``time_hook(clock)`` wraps the run() of portfix's import hook (``_hooks``)
so that the time it spends when ``werkzeug.serving`` is imported adds up in
a list.  Used by ``_startup.py`` (P3-cpu) and P1's child.  Python 3.6
compatible, stdlib only.
"""

import sys


def time_hook(clock, module="werkzeug.serving"):
    """Return ``(spent, waiting)``.

    Args:
        clock (callable): returns seconds (``time.process_time``).
        module (str): the module whose import runs the hook.

    Returns:
        (list of float, bool): ``spent[0]`` grows by the seconds the hook's
        run() takes; *waiting* tells whether a portfix patch waited for
        *module* (else nothing is wrapped and ``spent[0]`` stays 0).
    """
    spent = [0.0]
    hooks = sys.modules.get("portfix._hooks")
    if hooks is None or module not in hooks.waiting():
        return spent, False
    run = hooks._finder.run

    def timed_run(name):
        started = clock()
        try:
            run(name)
        finally:
            spent[0] += clock() - started

    hooks._finder.run = timed_run
    return spent, True
