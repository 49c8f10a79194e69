"""Installed versions, the policy lines, and specifier matching.

portfix is imported at the top of every process, so this module is all that
``import portfix`` loads on a fixed release.  It answers three things:

* which Flask and Werkzeug are installed (``read_versions``), without
  importing either when they are not imported yet: the version is the name of
  the one ``<name>-<version>.dist-info`` folder next to the package, found
  through ``importlib``'s finders (PEP 376/627); anything less clear-cut
  imports the package and reads ``__version__`` or its metadata, as before;
* the policy (``SUPPORTED``, ``NO_OP_FROM``, the switches) and its shortcut,
  ``untouched``: on a fixed release with no switch set the defect table and
  the gate (``_gate``) are never loaded; ``tests/test_policy.py`` checks that
  the two never disagree;
* whether a version lies in a specifier (``matches``), without importing
  ``packaging`` for a plain release such as ``1.0.2``: anything else
  (``1.0.2+deb9u1``, ``2.0.0rc1``) goes to ``packaging``, the reference;
  ``tests/test_versions.py`` checks that both paths agree.
"""

import importlib
import operator
import os
import sys

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


def kill_switch_off(environ):
    """Tell whether *environ*'s ``PORTFIX_DISABLE`` leaves portfix on (unset or an "off" value).

    Args:
        environ (mapping): the process environment (``os.environ``).

    Returns:
        bool: True for unset, ``""``, ``0``, ``false``, ``no``, ``off`` (any
        case, spaces stripped); False otherwise (``_control.disabled()``
        tells ``1``/``true``/... from an odd value, which it warns about).
    """
    return environ.get(DISABLE_ENV, "").strip().lower() in FALSE_VALUES
PORT_FILE_ENV = "PORTFIX_PORT_FILE"
EXCLUSIVE_BIND_ENV = "PORTFIX_EXCLUSIVE_BIND"
# Set at all (whatever the value), these send ``import portfix`` to the gate:
# the kill switch, and every feature's ``enabled_by`` variable.
SWITCHES = (DISABLE_ENV, PORT_FILE_ENV, EXCLUSIVE_BIND_ENV)

_OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class UnknownVersion(Exception):
    """The installed version could not be read or parsed."""


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


def not_imported(versions):
    """The modules of the distributions in *versions* that are installed but not imported now.

    Args:
        versions (dict): as returned by ``read_versions``.

    Returns:
        list of str: e.g. ``["flask"]``: their versions were read from the
        dist-info folder where the import system finds them now, before the
        process imported them.
    """
    return [MODULES[name] for name in sorted(versions)
            if isinstance(versions[name], str) and MODULES[name] not in sys.modules]


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


def installed_version(distribution, module_name):
    """Return the installed version of *distribution* as a ``str``.

    Args:
        distribution (str): the PyPI distribution name, e.g. ``"flask"``.
        module_name (str): its top-level module, e.g. ``"flask"``.

    Returns:
        str or None: the version text, or None when the module is not found
        and no metadata says it is installed.

    Raises:
        UnknownVersion: the module imports but no version can be found;
            importing it failed with something other than ImportError; or
            it does not import though its metadata says it is installed.

    A module not imported yet is not imported: where the import system would
    find it (``importlib.util.find_spec``, which runs none of its code) lies
    exactly one ``<name>-<version>.dist-info`` folder, and its name is the
    version pip wrote (PEP 376/627).  Any other layout (an egg, a source
    tree, a distribution's own packaging) imports the module, as does a
    module already imported: its own ``__version__`` is read from its
    namespace when it is defined there (Flask and Werkzeug before 3.0), the
    folder name or the distribution metadata otherwise.  A module-level
    ``__getattr__`` (Flask/Werkzeug 2.3 deprecate ``__version__`` through
    one) is never triggered.
    """
    if module_name not in sys.modules:  # (a None entry, a blocked import, goes to the import below)
        site = _site_from_spec(module_name)
        if site is not None:
            version = _dist_info_version(distribution, site)
            if version is not None:
                return version
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        installed = _metadata_version(distribution)
        if installed is None:
            return None  # not installed: nothing to patch, nothing to say
        # Installed but not importable (a blocked or broken import): say so.
        raise UnknownVersion("%s %s is installed but does not import: %r" % (distribution, installed, exc)) from exc
    except Exception as exc:  # a broken install: report, do not crash
        raise UnknownVersion("importing %s failed: %r" % (module_name, exc)) from exc
    version = vars(module).get("__version__")
    if isinstance(version, str) and version:
        return version
    site = _site_of(module)
    version = _dist_info_version(distribution, site) if site is not None else None
    if version is not None:
        return version
    try:
        from importlib import metadata
    except ImportError:
        try:
            import importlib_metadata as metadata  # backport, if installed
        except ImportError:
            raise UnknownVersion(
                "%s has no __version__ and no metadata reader is available" % module_name
            ) from None
    try:
        return metadata.version(distribution)
    except Exception as exc:
        raise UnknownVersion("no metadata for %s: %r" % (distribution, exc)) from exc


def _metadata_version(distribution):
    """The installed version from the distribution metadata, or None."""
    try:
        from importlib import metadata
    except ImportError:
        try:
            import importlib_metadata as metadata
        except ImportError:
            return None
    try:
        return metadata.version(distribution)
    except Exception:
        return None


def _site_from_spec(module_name):
    """The folder holding the top-level module *module_name* as the import
    system would find it now, or None (not found, or no single folder: a
    namespace package, a zip, a finder that raises).  Nothing is imported."""
    import importlib.util  # loaded at start-up before Python 3.12; by Flask's import after

    try:
        spec = importlib.util.find_spec(module_name)
    except Exception:  # any finder's error: the import below meets it, and says so
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if len(locations) == 1 and isinstance(locations[0], str):
        return os.path.dirname(os.path.abspath(locations[0]))
    if not locations and spec.has_location and isinstance(spec.origin, str):
        return os.path.dirname(os.path.abspath(spec.origin))
    return None


def _site_of(module):
    """The folder holding the imported *module*'s package (or module file), or None."""
    # vars(), not getattr(): Werkzeug 0.15-0.16's lazy module would create
    # __file__ on access, a side effect in someone else's namespace; its
    # __path__ is there (and no __version__, so this is how it is read
    # without importlib_metadata on Python 3.6).
    namespace = vars(module)
    package = list(namespace.get("__path__") or [])
    if package and isinstance(package[0], str):
        return os.path.dirname(os.path.abspath(package[0]))
    if isinstance(namespace.get("__file__"), str):
        return os.path.dirname(os.path.dirname(os.path.abspath(namespace["__file__"])))
    return None


def _dist_info_version(distribution, site):
    """The version in the name of the one ``<name>-<version>.dist-info``
    folder in *site* (the folder a package was or would be imported from),
    or None (then the module's own namespace or importlib.metadata decides):
    None too when that name is not a PEP 440 version.

    ``importlib.metadata.version()`` scans every entry of ``sys.path``: about
    3 ms for Flask and Werkzeug on Python 3.13, whose modules no longer
    define ``__version__``.  The folder name is what pip wrote (PEP 376/627),
    found with one ``listdir``.
    """
    prefix = distribution.lower() + "-"
    try:
        found = [
            entry[len(prefix):-len(".dist-info")]
            for entry in os.listdir(site)
            if entry.endswith(".dist-info") and entry.lower().startswith(prefix)
        ]
    except OSError:
        return None
    found = [version for version in found if version[:1].isdigit() and "-" not in version]
    if len(found) != 1:  # stale copies, or none: ask importlib.metadata
        return None
    if not _is_version(found[0]):
        # A folder renamed or written by hand ("flask-1.0.2.old.dist-info"):
        # its METADATA file, which importlib.metadata reads, may still be
        # right, and a version that does not parse would make the gate call
        # the distribution unknown and patch nothing.
        return None
    return found[0]


def _is_version(text):
    """Whether *text* is a PEP 440 version: a plain release at no cost, else asked of packaging."""
    if _release(text) is not None:
        return True
    from packaging.version import InvalidVersion, Version  # only for pre/post/dev/local versions

    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


_ASCII_DIGITS = frozenset("0123456789")
# The few versions and specifiers the gate compares, each parsed once.
_parsed = {}
_parsed_specifiers = {}


def _release(text):
    """Return ``(1, 0, 2)`` for a plain release ``"1.0.2"``, else None.

    Trailing zeros are dropped (``"2.0"`` and ``"2"`` give ``(2,)``): then
    plain tuple comparison orders releases as PEP 440 does, without padding.
    """
    try:
        return _parsed[text]
    except KeyError:
        pass
    parts = text.split(".")
    if all(part and _ASCII_DIGITS.issuperset(part) for part in parts):
        release = [int(part) for part in parts]
        while release and release[-1] == 0:
            release.pop()
        release = tuple(release)
    else:
        release = None
    _parsed[text] = release
    return release


def _clauses(specifier):
    """``">=1.0,<1.1.0"`` -> ``[(operator.ge, (1,)), (operator.lt, (1, 1))]``.

    None when a clause is not an ordered comparison with a plain release
    (``packaging`` decides those).
    """
    try:
        return _parsed_specifiers[specifier]
    except KeyError:
        pass
    result = []
    for clause in specifier.split(","):
        clause = clause.strip()
        op = clause[:2] if clause[:2] in _OPERATORS else clause[:1]
        bound = _release(clause[len(op):].strip())
        if op not in _OPERATORS or bound is None:
            result = None
            break
        result.append((_OPERATORS[op], bound))
    _parsed_specifiers[specifier] = result
    return result


def matches(version, specifier):
    """Tell whether *version* lies in *specifier*.

    Args:
        version (str): an installed version, PEP 440 (``"1.0.2+deb9u1"`` too).
        specifier (str): comma-separated clauses with plain releases,
            e.g. ``">=1.0,<1.1.0"``.

    Returns:
        bool: pre-releases count as releases (an installed ``2.0.0rc1`` is
        what the user runs).

    Raises:
        UnknownVersion: *version* is not a valid PEP 440 version.
    """
    release = _release(version)
    clauses = _clauses(specifier) if release is not None else None
    if clauses is not None:
        for compare, bound in clauses:
            if not compare(release, bound):
                return False
        return True
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        raise UnknownVersion("unparseable version %r" % (version,)) from None
    return SpecifierSet(specifier).contains(parsed, prereleases=True)
