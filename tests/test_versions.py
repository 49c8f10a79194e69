"""Version reading and specifier matching; the fast path agrees with packaging."""

import itertools

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from _support import VERSIONS
from portfix._defects import DEFECTS, NO_OP_FROM, SUPPORTED
from portfix._versions import UnknownVersion, installed_version, matches

SPECIFIERS = sorted(
    set([d.affected for d in DEFECTS] + [">=" + v for v in SUPPORTED.values()] + [">=" + v for v in NO_OP_FROM.values()])
)
PLAIN = ["0.9", "0.9.6", "0.10", "0.10.4", "0.11", "0.11.0", "0.11.2", "0.11.3", "0.12", "0.13.0", "0.14", "0.14.1",
         "1", "1.0", "1.0.0", "1.0.4", "1.1", "1.1.0", "1.1.4", "2", "2.0", "2.0.3", "2.1", "2.1.0", "3.1.9", "10.0"]
OTHER = ["1.0.2+deb9u1", "1.1.0rc1", "1.1.0.dev0", "1.0.post1", "2.0.0rc2", "0.11.3.post1", "2.1.0a1", "1!0.1"]


@pytest.mark.cell_independent
@pytest.mark.parametrize("version, specifier", list(itertools.product(PLAIN + OTHER, SPECIFIERS)))
def test_matches_agrees_with_packaging(version, specifier):
    assert matches(version, specifier) == SpecifierSet(specifier).contains(Version(version), prereleases=True)


@pytest.mark.cell_independent
def test_local_versions_of_affected_releases_match():
    assert matches("1.0.2+deb9u1", ">=1.0,<1.1.0")
    assert not matches("1.1.0+local", ">=1.0,<1.1.0")


@pytest.mark.cell_independent
@pytest.mark.parametrize("bad", ["banana", "1.0-", "", "1..0"])
def test_unparseable_versions_raise(bad):
    with pytest.raises(UnknownVersion):
        matches(bad, ">=1.0")


@pytest.mark.cell_independent
def test_missing_module_is_not_installed():
    assert installed_version("portfix-no-such-dist", "portfix_no_such_module") is None


@pytest.mark.parametrize("distribution", ["flask", "werkzeug"])
def test_installed_version_is_the_distributions(distribution):
    version = VERSIONS[distribution]
    if version is None:
        with pytest.raises(ImportError):
            __import__(distribution)
        return
    try:
        from importlib.metadata import version as metadata_version
    except ImportError:  # Python < 3.8: pkg_resources is fine in a test
        import pkg_resources

        expected = pkg_resources.get_distribution(distribution).version
    else:
        expected = metadata_version(distribution)
    assert version == expected


def test_the_dist_info_shortcut_agrees_with_importlib_metadata():
    """The folder-name shortcut answers exactly when pip wrote one dist-info
    folder (not for an egg-info install), and then as importlib.metadata does."""
    import importlib
    import os

    import pytest

    from portfix._versions import _dist_info_version

    try:
        from importlib import metadata
    except ImportError:
        metadata = pytest.importorskip("importlib_metadata")  # the 3.6 backport, when installed
    checked = 0
    for distribution in ("flask", "werkzeug"):
        try:
            module = importlib.import_module(distribution)
        except ImportError:
            continue
        site = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))
        folders = [e for e in os.listdir(site) if e.lower().startswith(distribution + "-") and e.endswith(".dist-info")]
        shortcut = _dist_info_version(distribution, module)
        if len(folders) == 1:
            assert shortcut == metadata.version(distribution)
        else:
            assert shortcut is None, folders
        checked += 1
    assert checked >= 1
