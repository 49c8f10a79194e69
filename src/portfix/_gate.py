"""The gate: installed versions in, the defects that apply out.  No side effects.

``decide`` and ``decide_features`` are pure functions of what they are
given; ``read_versions`` (in ``_versions``) and ``read_socket_options`` are the
only places that look at the environment.
"""

from ._defects import DEFECTS, FEATURES, Record
from ._versions import NO_OP_FROM, SUPPORTED, UnknownVersion, matches, read_versions  # noqa: F401 - the gate's input


# defect: the Defect (or Feature) record decided on.
# unknown: the distribution is installed but its version could not be read
# or parsed (apply() logs one warning per such distribution).
class Decision(Record):
    """The gate's answer for one defect or feature (fields: see the comment above)."""

    __slots__ = ("defect", "installed", "applies", "reason", "unknown")


def read_socket_options(socket_module):
    """Return the names of the socket options ``FEATURES`` need that *socket_module* has.

    Args:
        socket_module (module): the ``socket`` module portfix binds with
            (``_bind.socket``; tests put a simulated Windows layer there).

    Returns:
        frozenset of str: e.g. ``{"SO_EXCLUSIVEADDRUSE"}`` on Windows, empty
        on Linux and macOS.
    """
    return frozenset(f.needs[0] for f in FEATURES if f.needs is not None and hasattr(socket_module, f.needs[0]))


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


def decide_features(versions, switches, options=frozenset()):
    """Tell, for every feature in the table, whether it is installed.

    Args:
        versions (dict): as returned by ``read_versions``.
        switches (set of str): the ``enabled_by`` names that are on, e.g.
            ``{"PORTFIX_PORT_FILE"}``.
        options (set of str): the socket options this platform has, as
            ``read_socket_options`` gives them; a feature switched on whose
            ``needs`` names another is off (default: none).  Only asked of a
            feature that is switched on: the caller may leave it empty when
            no such feature is.

    Returns:
        list of Decision: one per feature, in table order.  The no-op policy
        for fixed releases does not apply: a feature is what the user asked for.
    """

    def reason_not_to_install(feature, installed):
        reason = _reason_unsupported(feature, installed)
        if reason is None and feature.enabled_by is not None and feature.enabled_by not in switches:
            reason = "off: enabled by %s" % feature.enabled_by
        if reason is None and feature.needs is not None and feature.needs[0] not in options:
            reason = "off: %s exists only on %s" % feature.needs
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
