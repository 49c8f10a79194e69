"""The patchable targets, as data: where each lives and which module builds its patch.

The patch modules (``_flask``, ``_werkzeug``) are imported only when a patch
is built: on fixed releases never, on old Werkzeug only once
``werkzeug.serving`` is imported.  ``import portfix`` stays cheap.
"""

import importlib

from ._defects import FLASK_RUN, RUN_SIMPLE, RUN_WITH_RELOADER, SERVER_INIT
from ._registry import Target


def _built_by(module, function):
    """A ``make(original, active)`` that imports *module* when first called."""

    def make(original, active):
        return getattr(importlib.import_module(module, __package__), function)(original, active)

    make.__qualname__ = "%s.%s" % (module.lstrip("."), function)
    return make


TARGETS = dict((target.name, target) for target in (
    Target(FLASK_RUN, "flask.app", "Flask", "run", "Flask.run", _built_by("._flask", "make_run")),
    Target(SERVER_INIT, "werkzeug.serving", "BaseWSGIServer", "__init__", "BaseWSGIServer.__init__",
           _built_by("._werkzeug", "make_server_init")),
    Target(RUN_SIMPLE, "werkzeug.serving", "", "run_simple", "run_simple", _built_by("._werkzeug", "make_run_simple")),
    Target(RUN_WITH_RELOADER, "werkzeug._reloader", "", "run_with_reloader", "run_with_reloader",
           _built_by("._werkzeug", "make_run_with_reloader")),
))
