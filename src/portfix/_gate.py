"""The gate: installed versions in, the defects that apply out.  No side effects.

``decide`` is a pure function of the versions it is given; ``read_versions``
is the only place that looks at the environment.
"""

import collections

from ._defects import DEFECTS, MODULES, NO_OP_FROM, SUPPORTED
from ._versions import UnknownVersion, installed_version, matches


# unknown: the distribution is installed but its version could not be read
# or parsed (apply() logs one warning per such distribution).
Decision = collections.namedtuple("Decision", "defect installed applies reason unknown")


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


def _unknown(distribution, error):
    return "%s version unknown (%s): left alone" % (distribution, error)


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
        name = defect.distribution
        installed = versions.get(name)
        if installed is None:
            decisions.append(Decision(defect, None, False, "%s is not installed" % name, False))
            continue
        if isinstance(installed, Exception):
            decisions.append(Decision(defect, None, False, _unknown(name, installed), True))
            continue
        try:
            reason = _reason_not_to_patch(defect, installed)
        except UnknownVersion as exc:
            decisions.append(Decision(defect, installed, False, _unknown(name, exc), True))
            continue
        decisions.append(Decision(defect, installed, reason is None, reason or "applies", False))
    return decisions


def _reason_not_to_patch(defect, installed):
    """None when *defect* is to be patched; else why not.  Raises UnknownVersion."""
    name = defect.distribution
    if not matches(installed, ">=" + SUPPORTED[name]):
        return "%s %s is older than the oldest supported %s: left alone" % (name, installed, SUPPORTED[name])
    if not matches(installed, defect.affected):
        return "not affected: %s %s is outside %s" % (name, installed, defect.affected)
    if matches(installed, ">=" + NO_OP_FROM[name]):
        return "still affected upstream, but %s >= %s is left untouched by policy" % (name, NO_OP_FROM[name])
    return None
