"""portfix run's sitecustomize: loaded by every Python that ``portfix run`` starts.

``portfix run`` puts this file's folder first on PYTHONPATH, so ``site``
imports it at interpreter start, before any of the program's code (the
mechanism ``ddtrace-run`` and ``opentelemetry-instrument`` use).  It:

1. arranges for ``import portfix`` right after the process's first import of
   ``flask`` or ``werkzeug`` has finished (outermost import, so Flask is
   whole when portfix reads its version).  A process that never imports them
   (pip, a shell helper) pays for nothing more than this file.  Flask's own
   ``flask run`` imports flask before it imports the app, so the patches are
   in place before Flask <= 1.0's lazy loader thread can race the reloader's
   bind.
2. in a Werkzeug reloader worker (Linux), asks the kernel for SIGTERM when
   the reloader parent dies, so that a parent killed by SIGHUP or SIGKILL
   leaves no worker serving on;
3. runs the sitecustomize this Python would have run without portfix (the
   next one on sys.path: the user's PYTHONPATH, site-packages, the
   distribution's), as ``sitecustomize``.  Its errors are reported by
   ``site`` exactly as they would be without portfix.

It prints nothing, except one warning on stderr in a Python that cannot load
portfix (Python < 3.6, or an interpreter without portfix installed), which
then runs on without it.  ``PORTFIX_DISABLE`` (any value but empty, 0,
false, no, off) keeps portfix out.

Python 2 must be able to parse this file: it runs in whatever Python the
command starts.
"""

import os
import sys

_WATCHED = ("flask", "werkzeug")
_ENABLED_VALUES = ("", "0", "false", "no", "off")  # PORTFIX_DISABLE values that leave portfix on


def _warn(reason):
    if sys.stderr is not None:
        sys.stderr.write("portfix: not active in this Python (%s, %s): %s; it runs on without portfix\n"
                         % (sys.executable, sys.version.split()[0], reason))


class _Loader(object):
    """The real loader of flask or werkzeug; counts the watched imports in progress."""

    def __init__(self, loader, watcher):
        self._loader = loader
        self._watcher = watcher

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        depth = self._watcher.depth
        depth.append(module.__name__)
        try:
            self._loader.exec_module(module)
        finally:
            depth.pop()
        # Leave no trace: the module's loader is the real one.
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        if not depth:  # the outermost watched import is complete
            self._watcher.load_portfix()

    def __getattr__(self, name):  # get_source, get_filename, is_package...
        return getattr(self._loader, name)


class _Watcher(object):
    """A meta path finder that wraps the loaders of flask and werkzeug, then leaves."""

    def __init__(self):
        self.depth = []  # the watched imports in progress (nested: flask imports werkzeug)
        self._finding = None

    def find_spec(self, name, path=None, target=None):
        if name not in _WATCHED or self._finding == name:
            return None
        import importlib.util  # only now: a process that never imports flask pays nothing

        self._finding = name  # the other finders give the real spec
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        finally:
            self._finding = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(spec.loader, self)
        return spec

    def load_portfix(self):
        try:
            sys.meta_path.remove(self)
        except ValueError:
            return  # loaded already
        try:
            import portfix  # noqa: F401 - patches what the installed releases need
        except Exception as exc:
            _warn("cannot import portfix: %s: %s" % (type(exc).__name__, str(exc).replace("\n", " ")))


def _die_with_the_reloader():
    """In a Werkzeug reloader worker on Linux: get SIGTERM when the reloader parent dies.

    Werkzeug stops its worker when the parent gets SIGINT or SIGTERM, but a
    parent killed by SIGHUP or SIGKILL leaves it serving on, orphaned, with
    the port.  A worker is a process whose environment has
    WERKZEUG_RUN_MAIN=true and whose parent's has not (the app's own
    subprocesses inherit it from the worker: they are left alone).
    """
    parent = os.getppid()
    try:
        with open("/proc/%d/environ" % parent, "rb") as f:
            if b"\0WERKZEUG_RUN_MAIN=true\0" in b"\0" + f.read():
                return
    except (IOError, OSError):
        return
    import ctypes

    pr_set_pdeathsig, sigterm = 1, 15  # <linux/prctl.h>, Linux's SIGTERM
    if ctypes.CDLL(None).prctl(pr_set_pdeathsig, sigterm) == 0 and os.getppid() != parent:
        os.kill(os.getpid(), sigterm)  # the parent died before prctl: as if it had fired


def _watch():
    if os.environ.get("PORTFIX_DISABLE", "").strip().lower() not in _ENABLED_VALUES:
        return
    if sys.version_info < (3, 6):
        _warn("portfix needs Python 3.6 or newer")
        return
    if os.environ.get("WERKZEUG_RUN_MAIN") == "true" and sys.platform.startswith("linux"):
        _die_with_the_reloader()
    watcher = _Watcher()
    sys.meta_path.insert(0, watcher)
    if any(name in sys.modules for name in _WATCHED):  # imported already (e.g. by a .pth file)
        watcher.load_portfix()


def _chain():
    """Import the next sitecustomize on sys.path in place of this one."""
    here = os.path.normcase(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [entry for entry in sys.path if os.path.normcase(os.path.abspath(entry or ".")) != here]
    ours = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401 - the next one; it replaces this one in sys.modules
    except ImportError as exc:
        missing = getattr(exc, "name", None) == "sitecustomize" or str(exc) == "No module named sitecustomize"
        if not missing:
            raise  # its own error: site reports it, as it would have without portfix
        sys.modules["sitecustomize"] = ours  # there is none: this one stays


try:
    _watch()
except Exception as exc:  # never stop the program for portfix's sake
    _warn("%s: %s" % (type(exc).__name__, exc))
_chain()
