"""The targets portfix patches (``TARGETS``), their saved originals, and the
patches in place, applied and reverted under a lock.

The first original seen for a target wins and is kept for the life of the
process, so ``apply`` -> ``revert`` -> ``apply`` patches the same object and
``revert`` puts back the very object that was there first.

Loaded at the first patch: on fixed releases ``import portfix`` never needs it.
"""

import collections
import importlib
import sys
import threading
import types

from ._defects import FLASK_RUN, RUN_SIMPLE, RUN_WITH_RELOADER, SERVER_INIT, Record


class Target(Record):
    """A patchable object.

    name: dotted path used in the defect table (``"flask.Flask.run"``).
    module: module to import (``"flask.app"``).
    owner: attribute path inside the module, ``""`` for the module itself.
    attribute: the attribute replaced on the owner.
    qualname: the pristine function's ``__qualname__``.
    make: ``make(original, active)`` -> replacement; *active* is the frozenset of
        defect ids that apply to this target.  A replacement may carry a
        ``portfix_undo`` callable, run when it is reverted.
    """

    __slots__ = ("name", "module", "owner", "attribute", "qualname", "make")


class TargetChanged(Exception):
    """The target is no longer the pristine original: someone else replaced it."""


def _looks_pristine(obj, target):
    return (
        isinstance(obj, types.FunctionType)
        and obj.__module__ == target.module
        and obj.__qualname__ == target.qualname
        and not hasattr(obj, "__wrapped__")
    )


def _undo(replacement):
    undo = getattr(replacement, "portfix_undo", None)
    if undo is not None:
        undo()


class Registry(object):
    """Patches in place, in the order they were applied."""

    def __init__(self):
        self.lock = threading.RLock()
        self._originals = {}  # name -> original, first one wins
        self._applied = collections.OrderedDict()  # name -> (owner, attribute, replacement, active)

    def locate(self, target):
        """Return ``(owner, current object)``; raises ImportError/AttributeError."""
        import importlib

        # sys.modules first: importlib.import_module waits for the module
        # lock of a module another thread is importing.
        owner = sys.modules.get(target.module) or importlib.import_module(target.module)
        for part in filter(None, target.owner.split(".")):
            owner = getattr(owner, part)
        return owner, vars(owner).get(target.attribute)

    def is_applied(self, name):
        return name in self._applied

    def original(self, name):
        """The saved original of *name*, or None when it was never patched."""
        return self._originals.get(name)

    def apply(self, target, active):
        """Replace *target* with ``target.make(original, active)``.

        Returns:
            bool: True when patched now (or rebuilt because *active* changed,
            e.g. a feature was turned on), False when it already was as asked.

        Raises:
            TargetChanged: the current object is neither our saved original,
                nor our own replacement, nor a pristine upstream function.
            ImportError, AttributeError: the target cannot be found.
            Exception: whatever ``make`` raised; nothing is replaced then.
        """
        active = frozenset(active)
        with self.lock:
            owner, current = self.locate(target)
            if target.name in self._applied:
                _, _, replacement, applied_for = self._applied[target.name]
                if current is not replacement:
                    raise TargetChanged("%s was replaced after portfix patched it: %r" % (target.name, current))
                if applied_for == active:
                    return False
                # Undo first: a replacement's side effects (a logging filter)
                # may be shared with the one that replaces it.  If the new one
                # cannot be built, the original goes back, not a half state.
                _undo(replacement)
                try:
                    rebuilt = target.make(self._originals[target.name], active)
                except Exception:
                    setattr(owner, target.attribute, self._originals[target.name])
                    del self._applied[target.name]
                    raise
                setattr(owner, target.attribute, rebuilt)
                self._applied[target.name] = (owner, target.attribute, rebuilt, active)
                return True
            saved = self._originals.get(target.name)
            if saved is not None and current is not saved:
                raise TargetChanged("%s is no longer the original: %r" % (target.name, current))
            if saved is None and not _looks_pristine(current, target):
                raise TargetChanged("%s is not the pristine upstream function: %r" % (target.name, current))
            replacement = target.make(current, active)
            self._originals.setdefault(target.name, current)
            setattr(owner, target.attribute, replacement)
            self._applied[target.name] = (owner, target.attribute, replacement, active)
            return True

    def applied_names(self):
        """The names of the targets patched now, in the order they were patched."""
        return list(self._applied)

    def revert(self, names=None):
        """Put every original back (or those of *names*), most recent patch first.

        Args:
            names (iterable of str or None): the targets to revert; None for all.

        Returns:
            list of (str, str or None): each target name with None when it was
            restored, or the reason it was left as it is (someone replaced
            portfix's patch since: restoring would drop their wrapper).
        """
        results = []
        with self.lock:
            for name in reversed(list(self._applied)):
                if names is not None and name not in names:
                    continue
                owner, attribute, replacement, _ = self._applied.pop(name)
                if vars(owner).get(attribute) is replacement:
                    setattr(owner, attribute, self._originals[name])
                    _undo(replacement)
                    results.append((name, None))
                else:
                    results.append((name, "replaced by someone else since portfix patched it; left alone"))
        return results


def _built_by(module, function):
    """A ``make(original, active)`` that imports *module* when first called.

    The patch modules (``_flask``, ``_werkzeug``) are imported only when a
    patch is built: on old Werkzeug only once ``werkzeug.serving`` is imported.
    """

    def make(original, active):
        return getattr(importlib.import_module(module, __package__), function)(original, active)

    make.__qualname__ = "%s.%s" % (module.lstrip("."), function)
    return make


# Where each target of the defect table lives, and which module builds its patch.
TARGETS = dict((target.name, target) for target in (
    Target(FLASK_RUN, "flask.app", "Flask", "run", "Flask.run", _built_by("._flask", "make_run")),
    Target(SERVER_INIT, "werkzeug.serving", "BaseWSGIServer", "__init__", "BaseWSGIServer.__init__",
           _built_by("._werkzeug", "make_server_init")),
    Target(RUN_SIMPLE, "werkzeug.serving", "", "run_simple", "run_simple", _built_by("._werkzeug", "make_run_simple")),
    Target(RUN_WITH_RELOADER, "werkzeug._reloader", "", "run_with_reloader", "run_with_reloader",
           _built_by("._werkzeug", "make_run_with_reloader")),
))
