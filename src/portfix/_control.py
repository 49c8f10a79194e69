"""apply(), revert() and status(): the gate's decisions carried out on the registry.

The registry and its targets table (``_registry``) are loaded at the first
patch, the post-import hooks (``_hooks``) when a patch waits for its module:
on fixed releases neither is ever loaded.
"""

import collections
import functools
import logging
import os
import sys
import threading

from ._defects import DEFECTS, EXCLUSIVE_BIND_ENV, FEATURES, PORT_FILE_ENV, Record
from ._gate import decide, decide_features, read_socket_options, read_versions
from ._versions import DISABLE_ENV, FALSE_VALUES as _FALSE, kill_switch_off, untouched

log = logging.getLogger("portfix")

_TRUE = ("1", "true", "yes", "on")


class State(object):
    """What portfix decided and did in this process: one instance, ``state``.

    A test that needs a process as fresh as ``import portfix`` left it, but
    nothing patched, assigns ``_control.state = _control.State()`` (after
    ``revert()``).

    Attributes:
        lock (threading.RLock): held by apply(), revert(), status() and the
            post-import hooks while they read or change what is below.
        versions (dict or None): ``read_versions()``, read once.
        decisions (list of Decision or None): the gate's answer for the
            defects, decided once.
        features (list of Decision or None): for the features, decided again
            at each apply().
        exclusive_bind (bool or None): apply()'s argument; None: the
            environment decides.
        failures (dict): target name -> why it could not be patched.
        pending (dict): target name -> active ids, for the targets whose
            module is not imported yet.
        registry (Registry or None): made at the first patch.
        targets (dict or None): ``_registry.TARGETS``, loaded with the registry.
        warned_value (str or None): the last PORTFIX_DISABLE value warned about.
    """

    def __init__(self):
        self.lock = threading.RLock()
        self.versions = None
        self.decisions = None
        self.features = None
        self.exclusive_bind = None
        self.failures = {}
        self.pending = {}
        self.registry = None
        self.targets = None
        self.warned_value = None

    def patching(self):
        """Load the registry and the targets table (once); return the registry."""
        if self.registry is None:
            from ._registry import TARGETS, Registry

            self.targets = TARGETS
            self.registry = Registry()
        return self.registry

    def is_applied(self, name):
        return self.registry is not None and self.registry.is_applied(name)


state = State()


class PatchStatus(Record):
    """One defect's or feature's state, as ``portfix.status()`` reports it.

    defect (str): the id in the defect table, e.g. ``"D1"``, or a feature's id,
        e.g. ``"port-file"``.
    targets (tuple of str): dotted paths of the replaced objects.
    distribution (str): ``"flask"`` or ``"werkzeug"``.
    installed (str or None): the installed version; None when not installed or unreadable.
    affected (str): PEP 440 specifier of the affected releases (for a feature:
        the releases it is installed on).
    fixed_in (str or None): first fixed upstream release; None if never fixed
        (and for features).
    upstream (str): the upstream issue/PR/release.
    summary (str): one line on the defect.
    applied (bool): True when every target is patched by portfix right now.
    reason (str): why it is or is not applied.
    """

    __slots__ = (
        "defect", "targets", "distribution", "installed", "affected", "fixed_in", "upstream", "summary",
        "applied", "reason",
    )


def disabled():
    """Tell whether ``PORTFIX_DISABLE`` asks portfix to do nothing.

    Returns:
        bool: True for ``1``, ``true``, ``yes``, ``on`` (any case); False when
        unset or ``0``, ``false``, ``no``, ``off``, empty.  Any other value
        also disables portfix (it is the safe side) and logs a warning.
    """
    if kill_switch_off(os.environ):
        return False
    value = os.environ[DISABLE_ENV].strip().lower()
    if value not in _TRUE and state.warned_value != value:
        state.warned_value = value
        log.warning("%s=%r is not one of %s; portfix stays disabled", DISABLE_ENV, os.environ[DISABLE_ENV], "/".join(_TRUE + _FALSE[1:]))
    return True


def _versions():
    """The installed versions, read once per process (again if an import shows another release)."""
    if state.versions is None:
        state.versions = read_versions()
    return state.versions


def _decisions():
    if state.decisions is None:
        state.decisions = decide(_versions())
        warned = set()  # one warning per distribution whose version is unknown
        for decision in state.decisions:
            name = decision.defect.distribution
            if decision.unknown and name not in warned:
                warned.add(name)
                log.warning("portfix: %s", decision.reason)
    return state.decisions


def _switches(exclusive_bind):
    """The ``enabled_by`` names that are on now (features are decided at each apply())."""
    on = set()
    if os.environ.get(PORT_FILE_ENV, "").strip():
        on.add(PORT_FILE_ENV)
        from . import _portfile  # only when the port file is asked for

        try:
            _portfile.configured_path()  # made absolute now, before any os.chdir
        except ValueError:
            pass  # raised again by the server that claims it, before it binds
    if exclusive_bind is None:
        exclusive_bind = os.environ.get(EXCLUSIVE_BIND_ENV, "").strip().lower() in _TRUE
    if exclusive_bind:
        on.add(EXCLUSIVE_BIND_ENV)
    return on


def _features(exclusive_bind):
    """The features' decisions for the switches that are on and this platform's socket options.

    The options are read from the socket module portfix binds with, each
    time a feature that needs one is asked for: where ``SO_EXCLUSIVEADDRUSE``
    does not exist, the exclusive bind is not installed, whatever asked for
    it.  A feature not asked for is off before its option matters.
    """
    switches = _switches(exclusive_bind)
    options = frozenset()
    if any(f.needs is not None and f.enabled_by in switches for f in FEATURES):
        from . import _bind  # only then: `import portfix` does not need it

        options = read_socket_options(_bind.socket)
    return decide_features(_versions(), switches, options)


def _active_by_target(decisions):
    active = collections.OrderedDict()
    for decision in decisions:
        if decision.applies:
            for name in decision.defect.targets:
                active.setdefault(name, set()).add(decision.defect.id)
    return active


def apply(exclusive_bind=None):
    """Patch exactly the targets whose defects apply to the installed releases.

    Also installs the features that are on (``FEATURES`` in ``_defects``):
    the port file when ``PORTFIX_PORT_FILE`` is set, the Windows exclusive
    bind when asked for.

    Args:
        exclusive_bind (bool or None): True to bind listening sockets with
            ``SO_EXCLUSIVEADDRUSE`` on Windows (pallets/werkzeug#1597 declined
            it upstream); None (default) reads ``PORTFIX_EXCLUSIVE_BIND``
            (``1``/``true``/``yes``/``on``).  Where the socket module has no
            ``SO_EXCLUSIVEADDRUSE`` (everywhere but Windows) nothing is
            installed, and ``status()`` says so.

    Idempotent and thread-safe; ``import portfix`` calls it.  Never raises
    because of a patching problem: a target that cannot be patched (missing,
    replaced by someone else, or its patch failed) keeps its original, gets a
    warning on the ``portfix`` logger, and shows the reason in ``status()``.

    Returns:
        list of PatchStatus: as ``status()``.

    Does nothing (and reports why) when ``PORTFIX_DISABLE`` is set.
    """
    _apply(exclusive_bind)
    return status()


def _apply(exclusive_bind=None):
    """apply() without the report: what ``import portfix`` runs.

    status() imports the modules that patches wait for; this does not.
    """
    if disabled():
        return
    with state.lock:
        try:
            decisions = _decisions()
        except Exception as exc:  # the gate itself failed: leave everything alone
            log.warning("portfix: could not read the installed versions (%r); nothing patched", exc)
            state.decisions = []
            return
        if exclusive_bind is not None:
            state.exclusive_bind = bool(exclusive_bind)
        state.features = _features(state.exclusive_bind)
        by_target = _active_by_target(decisions + state.features)
        if not by_target and state.registry is None:
            return  # nothing to patch, and nothing was: a fixed release
        registry = state.patching()
        # A target patched only for a feature that is now off goes back.
        for name, problem in registry.revert(set(registry.applied_names()) - set(by_target)):
            if problem:
                state.failures[name] = problem
                log.warning("portfix: %s %s", name, problem)
        for name, active in by_target.items():
            module = state.targets[name].module
            if module in sys.modules:
                _apply_one(name, active)
            else:
                # Patched when the module is imported (werkzeug.serving costs
                # ~20 ms to import on Python 3.6; old Werkzeug imports it
                # only when a server starts).
                from . import _hooks  # only when something waits: never on fixed releases

                state.pending[name] = active
                _hooks.when_imported(module, functools.partial(_apply_pending, name))


def _apply_one(name, active):
    try:
        if state.registry.apply(state.targets[name], active):
            log.debug("portfix: patched %s for %s", name, ", ".join(sorted(active)))
        state.failures.pop(name, None)
    except Exception as exc:
        state.failures[name] = "not patched: %s" % (exc,)
        log.warning("portfix: %s left unpatched: %s", name, exc)


def _apply_pending(name, module):
    """Post-import hook: patch *name* now that its module is imported."""
    with state.lock:
        active = state.pending.pop(name, None)
        if active is not None:  # else reverted meanwhile
            _apply_one(name, active)


def read_again():
    """Read the versions again now that Flask or Werkzeug is imported; decide again if they changed.

    ``import portfix`` reads the version of a distribution not imported yet
    from the dist-info folder where the import system finds it then
    (``_versions.installed_version``).  A sys.path change before the
    distribution's own import can make that another copy: this post-import
    hook, run before the importer gets the module, reads the imported copy
    and decides again (patching, rebuilding or reverting targets) when the
    versions differ, on fixed releases too (where ``import portfix``
    decided nothing).
    """
    with state.lock:
        fresh = read_versions()
        if state.versions is None:  # nothing decided at import: the policy said a fixed release
            if untouched(fresh, os.environ):
                return
        elif _comparable(fresh) == _comparable(state.versions):
            return
        else:
            log.warning("portfix: read before their import, the versions were %s; imported: %s; decided again",
                        _comparable(state.versions), _comparable(fresh))
        state.versions = fresh
        state.decisions = None
        state.pending.clear()  # _apply() fills it again; a callback still registered applies that, once
        if not disabled():
            _apply()


def _comparable(versions):
    """*versions* with an unreadable one (an exception instance) as its text."""
    return dict((k, v if v is None or isinstance(v, str) else repr(v)) for k, v in versions.items())


def revert():
    """Restore every patched target to the very object it was, in reverse order.

    Returns:
        list of PatchStatus: as ``status()``.  A target that someone replaced
        after portfix patched it is left as it is, with a warning.
    """
    with state.lock:
        state.pending.clear()
        hooks = sys.modules.get(__package__ + "._hooks")
        if hooks is not None:  # patches waiting, and the versions' second reading (read_again)
            hooks.cancel_all()
        if state.registry is not None:
            for name, problem in state.registry.revert():
                if problem:
                    state.failures[name] = problem
                    log.warning("portfix: %s %s", name, problem)
    return status()


def status():
    """Report, for every defect in the table, whether portfix resolves it here.

    Returns:
        list of PatchStatus: one per defect, in table order, then one per
        feature (``FEATURES``), in table order.
    """
    off = disabled()
    if state.pending:  # an accurate answer: patch what waits for an import
        from . import _hooks
        from ._text import describe

        for module_name, exc in _hooks.import_waiting():
            with state.lock:
                for name in state.pending:
                    if state.targets[name].module == module_name:
                        state.failures[name] = "not patched: %s does not import: %s" % (
                            module_name, describe(exc))
    with state.lock:
        decisions = state.decisions
        if decisions is None:
            decisions = decide(_versions())
        features = state.features
        if features is None:
            features = _features(state.exclusive_bind)
        by_id = dict((d.defect.id, d) for d in decisions + features)
        records = []
        for defect in DEFECTS + FEATURES:
            decision = by_id.get(defect.id)
            applied = bool(decision and decision.applies) and all(state.is_applied(t) for t in defect.targets)
            if decision is None:
                reason = "versions could not be read"
            elif applied:
                reason = "patched"
            elif decision.applies:
                problems = [state.failures[t] for t in defect.targets if t in state.failures]
                waiting = [state.targets[t].module for t in defect.targets if t in state.pending]
                if problems:
                    reason = "; ".join(problems)
                elif waiting:
                    reason = "applies: patched once %s is imported" % ", ".join(waiting)
                elif off:
                    reason = "applies, but %s is set: nothing patched" % DISABLE_ENV
                else:
                    reason = "applies, not patched (reverted or not applied yet)"
            else:
                reason = decision.reason
            records.append(
                PatchStatus(
                    defect.id, defect.targets, defect.distribution,
                    decision.installed if decision else None, defect.affected,
                    getattr(defect, "fixed_in", None), defect.upstream, defect.summary, applied, reason,
                )
            )
    return records


def feature_on(feature_id):
    """Tell whether the feature *feature_id* (``"exclusive-bind"``...) is on here.

    Args:
        feature_id (str): an id from ``FEATURES``.

    Returns:
        bool: as the last ``apply()`` decided it (or as the environment says,
        before any ``apply()``).
    """
    features = state.features
    if features is None:
        features = _features(state.exclusive_bind)
    return any(d.defect.id == feature_id and d.applies for d in features)


def original(name):
    """Return the saved original of a patched target, or None.

    A target waiting for its module to be imported is patched first.

    Args:
        name (str): a dotted target path from the defect table, e.g.
            ``"flask.Flask.run"``.
    """
    if name in state.pending:
        from . import _hooks

        _hooks.import_waiting()
    return state.registry.original(name) if state.registry is not None else None
