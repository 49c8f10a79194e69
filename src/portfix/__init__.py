"""portfix: correct port handling for the Flask/Werkzeug development server.

``import portfix`` reads the installed Flask and Werkzeug versions and, only
on releases that are affected, patches ``Flask.run`` and Werkzeug's server
classes and ``run_simple`` so that ``app.run(port=0)`` binds an ephemeral port
chosen by the OS and reports the bound port everywhere.  On fixed releases
(Flask >= 2.0, Werkzeug >= 2.1) it replaces nothing.  ``PORTFIX_DISABLE=1``
turns it off.  Applications import portfix; libraries don't.

Also, on every release: ``serve(app)`` runs a server bound before it returns
(``.port``, ``.url``); ``PORTFIX_PORT_FILE`` makes the process's first dev
server write its port to a file while it listens (``PortFileError`` for a
path that cannot be used); a busy port raises ``PortInUseError`` naming the holder
(Werkzeug < 2.1, and ``serve()``).  See the README.
"""

import importlib
import logging
import os
import sys

__all__ = [
    "BindError", "PatchStatus", "PortFileError", "PortInUseError", "Server",
    "apply", "original", "revert", "serve", "status", "__version__",
]
__version__ = "0.1.0"

# portfix is imported at the top of every process: what deciding and applying
# the patches does not need is loaded on first use, here and nowhere else.
# Public name -> the submodule that defines it.
_ON_FIRST_USE = {
    "BindError": "._errors",
    "PortFileError": "._errors",
    "PortInUseError": "._errors",
    "PatchStatus": "._control",
    "apply": "._control",
    "disabled": "._control",
    "original": "._control",
    "revert": "._control",
    "status": "._control",
    "Server": "._serve",
    "serve": "._serve",
}
# Tracebacks and reprs name the public path (portfix.PortInUseError), by
# submodule: its classes are renamed when it is loaded, whoever imports it.
_PUBLIC_CLASSES = {
    "_control": ("PatchStatus",),
    "_errors": ("BindError", "PortFileError", "PortInUseError"),
    "_serve": ("Server",),
}


class _Package(type(sys)):
    """The type of the ``portfix`` module object: loads ``_ON_FIRST_USE`` names.

    A module-level ``__getattr__`` (PEP 562) only exists from Python 3.7; a
    method of the module's own type works from 3.5, so this one runs on 3.6.
    """

    def __getattr__(self, name):  # only for names not loaded yet
        try:
            submodule = _ON_FIRST_USE[name]
        except KeyError:
            raise AttributeError("module %r has no attribute %r" % (self.__name__, name)) from None
        value = getattr(importlib.import_module(submodule, self.__name__), name)
        self.__dict__[name] = value  # a plain attribute from now on
        return value

    def __setattr__(self, name, value):
        # The import system binds each submodule here once it has run
        # (the import reference, "Submodules"), whichever module imported it.
        for public in _PUBLIC_CLASSES.get(name, ()):
            getattr(value, public).__module__ = self.__name__
        super().__setattr__(name, value)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(_ON_FIRST_USE))


sys.modules[__name__].__class__ = _Package

logging.getLogger("portfix").addHandler(logging.NullHandler())


def _apply_at_import():
    """Ask the policy, then the gate only if needed; patch what applies."""
    from . import _versions

    versions = _versions.read_versions()
    # A version read before its distribution is imported is the copy the
    # import system finds now; should the one imported later be another
    # (sys.path changed meanwhile), it is read again once imported, before
    # the importer gets it, and decided on again.
    for module_name in _versions.not_imported(versions):
        from . import _hooks

        _hooks.when_imported(module_name, _read_again)
    if _versions.untouched(versions, os.environ):
        return  # a fixed release and no switch set: nothing to decide, nothing to load
    from . import _control

    _control.state.versions = versions  # read once per process (again if an import shows another release)
    if not _control.disabled():
        _control._apply()


def _read_again(module):
    """Post-import hook on ``flask`` and ``werkzeug`` when read before import (``_control.read_again``)."""
    try:
        from . import _control

        _control.read_again()
    except Exception as exc:  # never the importer's problem: as at import, belt and braces
        logging.getLogger("portfix").warning("portfix: not applied: %r", exc)


try:
    _apply_at_import()
except Exception as exc:  # apply() already guards each patch; belt and braces
    logging.getLogger("portfix").warning("portfix: not applied: %r", exc)
