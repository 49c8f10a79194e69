"""Post-import hooks: run a callback once a module has been imported.

portfix is imported at the top of every process.  Importing
``werkzeug.serving`` eagerly, only to patch it, would cost about 20 ms on
Python 3.6 (``http.server`` pulls in ``argparse`` and ``gettext``): most of
portfix's import time.  Old Werkzeug releases import it only when a server
starts, so the patch waits for that import instead.

The finder sits first in ``sys.meta_path`` only while a callback waits: every
import in the process passes through it meanwhile.
"""

import importlib
import sys
import threading


class _Loader(object):
    """Delegates to the real loader, then runs the callbacks of the module."""

    def __init__(self, loader, finder):
        self._loader = loader
        self._finder = finder

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        # The module's __loader__ and __spec__.loader stay the real loader.
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._finder.run(module.__name__)

    def __getattr__(self, name):  # get_source, get_filename, is_package...
        return getattr(self._loader, name)


class _Finder(object):
    """A meta path finder that only wraps the loader of the modules waited for."""

    def __init__(self):
        self._callbacks = {}  # module name -> [callback]
        self._lock = threading.Lock()
        self._finding = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._callbacks or getattr(self._finding, "name", None) == fullname:
            return None
        import importlib.util  # here: not loaded yet at startup on Python >= 3.12

        self._finding.name = fullname  # the other finders find the real spec
        try:
            spec = importlib.util.find_spec(fullname)
        except (ImportError, ValueError):
            return None
        finally:
            self._finding.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(spec.loader, self)
        return spec

    def add(self, name, callback):
        with self._lock:
            self._callbacks.setdefault(name, []).append(callback)
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def run(self, name):
        with self._lock:
            callbacks = self._callbacks.pop(name, [])
            if not self._callbacks:
                self._leave()
        for callback in callbacks:
            callback(sys.modules[name])

    def discard(self):
        with self._lock:
            self._callbacks.clear()
            self._leave()

    def _leave(self):
        """Leave ``sys.meta_path`` (the lock is held): nothing waits any more."""
        if self in sys.meta_path:
            # A new list, not list.remove(): another thread may be walking
            # the old one in the middle of an import, and removing an item
            # under it would make it skip the next finder.
            sys.meta_path = [finder for finder in sys.meta_path if finder is not self]

    def waiting(self):
        with self._lock:
            return sorted(self._callbacks)


_finder = _Finder()


def when_imported(name, callback):
    """Call ``callback(module)`` once module *name* is imported.

    Args:
        name (str): a dotted module name, e.g. ``"werkzeug.serving"``.
        callback (callable): called with the module, in the importing thread,
            right after the module's code ran; at once when it is already
            imported.
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _finder.add(name, callback)


def cancel_all():
    """Forget every callback not run yet (``revert()``); the finder leaves ``sys.meta_path``."""
    _finder.discard()


def waiting():
    """The names of the modules whose callbacks have not run yet (sorted list of str)."""
    return _finder.waiting()


def import_waiting():
    """Import the modules waited for, so their callbacks run now.

    Returns:
        list of (str, Exception): the modules that failed to import.
    """
    failed = []
    for name in waiting():
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append((name, exc))
    return failed
