"""The policy: which releases portfix supports, from which it patches nothing,
and which environment variables change what it does.

``untouched`` is the first question ``import portfix`` asks: on a fixed
release (Flask >= 2.0, Werkzeug >= 2.1) with no switch set, no row of the
defect table can apply, so neither the table nor the gate is loaded.  Any
other case goes to the gate (``_gate``), which decides row by row;
``tests/test_defects.py`` checks that the two never disagree.
"""

from ._versions import UnknownVersion, installed_version, matches

# The oldest releases portfix was measured on; older ones are left alone.
SUPPORTED = {"flask": "0.10", "werkzeug": "0.9"}

# Policy, not truth: from these releases on portfix patches nothing, so that it
# can stay imported through an upgrade (Flask 2.0 resolves ports correctly;
# Werkzeug 2.1 fixed D9).  D11 is still present there and stays unpatched.
NO_OP_FROM = {"flask": "2.0", "werkzeug": "2.1"}

# Where each distribution's module lives, for reading its version.
MODULES = {"flask": "flask", "werkzeug": "werkzeug"}

DISABLE_ENV = "PORTFIX_DISABLE"
# The values of the kill switch that leave portfix on (after strip() and
# lower()); unset counts as "".  _control.disabled() tells the rest apart.
FALSE_VALUES = ("", "0", "false", "no", "off")
PORT_FILE_ENV = "PORTFIX_PORT_FILE"
EXCLUSIVE_BIND_ENV = "PORTFIX_EXCLUSIVE_BIND"
# Set at all (whatever the value), these send ``import portfix`` to the gate:
# the kill switch, and every feature's ``enabled_by`` variable.
SWITCHES = (DISABLE_ENV, PORT_FILE_ENV, EXCLUSIVE_BIND_ENV)


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


def untouched(versions, environ):
    """Tell whether the policy alone says that portfix does nothing here.

    Args:
        versions (dict): as returned by ``read_versions``.
        environ (mapping): the process environment (``os.environ``).

    Returns:
        bool: True when no ``SWITCHES`` variable is set and every installed
        distribution is at or past its ``NO_OP_FROM`` release; False when
        the gate has to decide (an unreadable version included).
    """
    if any(name in environ for name in SWITCHES):
        return False
    for distribution, version in versions.items():
        if version is None:
            continue
        if not isinstance(version, str):  # unreadable: the gate warns about it
            return False
        try:
            if not matches(version, ">=" + NO_OP_FROM[distribution]):
                return False
        except UnknownVersion:
            return False
    return True
