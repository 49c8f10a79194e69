"""The gate: installed versions in, the defects that apply out.  No side effects.

``decide`` is a pure function of the versions it is given; ``read_versions``
(in ``_policy``) is the only place that looks at the environment.
"""

from ._defects import DEFECTS, FEATURES, NO_OP_FROM, SUPPORTED
from ._policy import read_versions  # noqa: F401 - the gate's input, read here too
from ._record import Record
from ._versions import UnknownVersion, matches


# defect: the Defect (or Feature) record decided on.
# unknown: the distribution is installed but its version could not be read
# or parsed (apply() logs one warning per such distribution).
class Decision(Record):
    """The gate's answer for one defect or feature (fields: see the comment above)."""

    __slots__ = ("defect", "installed", "applies", "reason", "unknown")


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
    return [_decide(defect, versions, _reason_not_to_patch) for defect in DEFECTS]


def decide_features(versions, switches):
    """Tell, for every feature in the table, whether it is installed.

    Args:
        versions (dict): as returned by ``read_versions``.
        switches (set of str): the ``enabled_by`` names that are on, e.g.
            ``{"PORTFIX_PORT_FILE"}``.

    Returns:
        list of Decision: one per feature, in table order.  The no-op policy
        for fixed releases does not apply: a feature is what the user asked for.
    """

    def reason_not_to_install(feature, installed):
        reason = _reason_unsupported(feature, installed)
        if reason is None and feature.enabled_by is not None and feature.enabled_by not in switches:
            reason = "off: enabled by %s" % feature.enabled_by
        return reason

    return [_decide(feature, versions, reason_not_to_install) for feature in FEATURES]


def _decide(record, versions, why_not):
    name = record.distribution
    installed = versions.get(name)
    if installed is None:
        return Decision(record, None, False, "%s is not installed" % name, False)
    if isinstance(installed, Exception):
        return Decision(record, None, False, _unknown(name, installed), True)
    try:
        reason = why_not(record, installed)
    except UnknownVersion as exc:
        return Decision(record, installed, False, _unknown(name, exc), True)
    return Decision(record, installed, reason is None, reason or "applies", False)


def _reason_unsupported(record, installed):
    """None when *installed* is supported and inside ``record.affected``; else why not."""
    name = record.distribution
    if not matches(installed, ">=" + SUPPORTED[name]):
        return "%s %s is older than the oldest supported %s: left alone" % (name, installed, SUPPORTED[name])
    if not matches(installed, record.affected):
        return "not affected: %s %s is outside %s" % (name, installed, record.affected)
    return None


def _reason_not_to_patch(defect, installed):
    """None when *defect* is to be patched; else why not.  Raises UnknownVersion."""
    reason = _reason_unsupported(defect, installed)
    if reason is None and matches(installed, ">=" + NO_OP_FROM[defect.distribution]):
        reason = "still affected upstream, but %s >= %s is left untouched by policy" % (
            defect.distribution, NO_OP_FROM[defect.distribution])
    return reason
