"""Reading installed versions and matching them against specifiers.

portfix is imported at the top of every process, so this module avoids
importing ``packaging`` for the common case: a plain release such as ``1.0.2``
is compared as a tuple of integers.  Anything else (``1.0.2+deb9u1``,
``2.0.0rc1``, ``1.1.0.post1``) goes to ``packaging``, which is the reference;
``tests/test_versions.py`` checks that both paths agree.
"""

import importlib
import operator
import os

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


def installed_version(distribution, module_name):
    """Return the installed version of *distribution* as a ``str``.

    Args:
        distribution (str): the PyPI distribution name, e.g. ``"flask"``.
        module_name (str): the module to import, e.g. ``"flask"``.

    Returns:
        str or None: the version text, or None when the module does not
        import and no metadata says it is installed.

    Raises:
        UnknownVersion: the module imports but no version can be found;
            importing it failed with something other than ImportError; or
            it does not import though its metadata says it is installed.

    The module's own ``__version__`` is read from its namespace when it is
    defined there (Flask and Werkzeug before 3.0); the distribution metadata
    otherwise.  A module-level ``__getattr__`` (Flask/Werkzeug 2.3 deprecate
    ``__version__`` through one) is never triggered.
    """
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
    version = _dist_info_version(distribution, module)
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


def _dist_info_version(distribution, module):
    """The version in the name of the one ``<name>-<version>.dist-info`` folder
    next to *module*'s package, or None (then importlib.metadata decides):
    None too when that name is not a PEP 440 version.

    ``importlib.metadata.version()`` scans every entry of ``sys.path``: about
    3 ms for Flask and Werkzeug on Python 3.13, whose modules no longer
    define ``__version__``.  The folder name is what pip wrote (PEP 376/627),
    found with one ``listdir`` of the folder the package was imported from.
    """
    # vars(), not getattr(): Werkzeug 0.15-0.16's lazy module would create
    # __file__ on access, a side effect in someone else's namespace; its
    # __path__ is there (and no __version__, so this is how it is read
    # without importlib_metadata on Python 3.6).
    namespace = vars(module)
    package = list(namespace.get("__path__") or [])
    if package and isinstance(package[0], str):
        site = os.path.dirname(os.path.abspath(package[0]))
    elif isinstance(namespace.get("__file__"), str):
        site = os.path.dirname(os.path.dirname(os.path.abspath(namespace["__file__"])))
    else:
        return None
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
