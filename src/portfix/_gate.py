"""The gate: installed versions in, the defects that apply out.  No side effects.

``decide`` is a pure function of the versions it is given; ``read_versions``
is the only place that looks at the environment.
"""

import collections

from ._defects import DEFECTS, MODULES, NO_OP_FROM, SUPPORTED
from ._versions import UnknownVersion, installed_version, matches


Decision = collections.namedtuple("Decision", "defect installed applies reason")


def read_versions():
    """Return ``{distribution: version}`` for Flask and Werkzeug.

    Returns:
        dict: version str; None when not installed; an ``UnknownVersion``
        instance when installed but unreadable.
    """
    versions = {}
    for distribution, module_name in sorted(MODULES.items()):
        try:
            versions[distribution] = installed_version(distribution, module_name)
        except UnknownVersion as exc:
            versions[distribution] = exc
    return versions


def _check(distribution, version, specifier):
    """``matches`` that turns an unparseable version into a reason."""
    try:
        return matches(version, specifier), None
    except UnknownVersion as exc:
        return False, "%s version unknown (%s): left alone" % (distribution, exc)


def decide(versions):
    """Tell, for every defect in the table, whether its patch applies.

    Args:
        versions (dict): as returned by ``read_versions``.

    Returns:
        list of Decision: one per defect, in table order, each with the
        installed version (str or None), ``applies`` (bool) and a reason.
    """
    decisions = []
    for defect in DEFECTS:
        installed = versions.get(defect.distribution)
        name = defect.distribution
        if installed is None:
            decisions.append(Decision(defect, None, False, "%s is not installed" % name))
            continue
        if isinstance(installed, Exception):
            decisions.append(Decision(defect, None, False, "%s version unknown (%s): left alone" % (name, installed)))
            continue
        supported, reason = _check(name, installed, ">=" + SUPPORTED[name])
        if reason is None and not supported:
            reason = "%s %s is older than the oldest supported %s: left alone" % (name, installed, SUPPORTED[name])
        if reason is None:
            affected, reason = _check(name, installed, defect.affected)
            if reason is None and not affected:
                reason = "not affected: %s %s is outside %s" % (name, installed, defect.affected)
        if reason is None:
            fixed_line, reason = _check(name, installed, ">=" + NO_OP_FROM[name])
            if reason is None and fixed_line:
                reason = "still affected upstream, but %s >= %s is left untouched by policy" % (name, NO_OP_FROM[name])
        decisions.append(Decision(defect, installed, reason is None, reason or "applies"))
    return decisions
