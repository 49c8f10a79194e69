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

    from portfix._versions import _dist_info_version, _site_of

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
        shortcut = _dist_info_version(distribution, _site_of(module))
        if len(folders) == 1:
            assert shortcut == metadata.version(distribution)
        else:
            assert shortcut is None, folders
        checked += 1
    assert checked >= 1


# A child that puts argv[1] first on sys.path, then reads the version of
# distribution argv[2] (module argv[3]) as portfix does, and what the gate
# makes of it; with argv[4] == "before", before anything imports the module
# (then it also says whether reading the version imported it).
READ_IN_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from portfix._versions import UnknownVersion, installed_version, matches
before = sys.argv[4] == "before"
if not before:
    __import__(sys.argv[3])
try:
    version = installed_version(sys.argv[2], sys.argv[3])
    matches(version, ">=0")
    result = {"version": version}
except UnknownVersion as exc:
    result = {"unknown": str(exc)}
result["imported_by_reading"] = before and sys.argv[3] in sys.modules
result["from"] = __import__(sys.argv[3]).__file__
print("RESULT " + json.dumps(result))
"""


def read_in_child(path, distribution, module_name, when="after"):
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", READ_IN_CHILD, str(path), distribution, module_name, when],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                          env=dict(__import__("os").environ, PORTFIX_DISABLE="1"))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr
    return json.loads(lines[-1][len("RESULT "):])


def metadata_reader():
    try:
        from importlib import metadata
    except ImportError:
        metadata = pytest.importorskip("importlib_metadata")  # the 3.6 backport; pytest < 7.1 needs it there
    return metadata


def test_a_dist_info_name_that_does_not_parse_falls_back_to_the_metadata(tmp_path):
    """A real package without __version__ next to a dist-info folder whose name is no version."""
    metadata_reader()
    (tmp_path / "portfix_probe").mkdir()
    (tmp_path / "portfix_probe" / "__init__.py").write_text("")
    info = tmp_path / "portfix_probe-1.0.2.bad.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: portfix-probe\nVersion: 1.0.2\n")
    (info / "RECORD").write_text("")
    result = read_in_child(tmp_path, "portfix_probe", "portfix_probe")
    assert result["from"].startswith(str(tmp_path))
    assert result == dict(result, version="1.0.2"), result  # not "1.0.2.bad", not unknown


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("distribution", ["flask", "werkzeug"])
def test_an_installed_distribution_with_a_renamed_dist_info_keeps_its_version(tmp_path, distribution, when):
    """The installed package and its dist-info copied next to each other, the folder renamed."""
    import importlib
    import os
    import shutil

    metadata = metadata_reader()
    try:
        module = importlib.import_module(distribution)
    except ImportError:
        pytest.skip("%s is not installed in this cell" % distribution)
    package = module.__path__[0]
    site = os.path.dirname(package)
    folders = [e for e in os.listdir(site) if e.lower().startswith(distribution + "-") and e.endswith(".dist-info")]
    if len(folders) != 1:  # Werkzeug 0.9.6 has no wheel: its sdist installs an egg-info
        pytest.skip("%s is installed without one dist-info folder: %s" % (distribution, folders))
    (folder,) = folders
    expected = metadata.version(distribution)
    shutil.copytree(package, str(tmp_path / os.path.basename(package)))
    shutil.copytree(os.path.join(site, folder), str(tmp_path / ("%s-%s.orig.dist-info" % (distribution, expected))))
    result = read_in_child(tmp_path, distribution, distribution, when)
    assert result["from"].startswith(str(tmp_path))
    # Where the module has its own __version__ the folder is never read; where
    # it has none (Flask/Werkzeug 3.x, Werkzeug 0.15-0.16), the metadata answers.
    # Read before the import, a folder name that is no version imports the
    # module to find out.
    assert result == dict(result, version=expected), result
    assert result["imported_by_reading"] is (when == "before")


@pytest.mark.parametrize("distribution", ["flask", "werkzeug"])
def test_a_distribution_not_imported_yet_is_read_without_importing_it(tmp_path, distribution):
    """``import portfix`` before ``import flask`` (or in ``portfix check``'s
    parent) reads the version from the dist-info folder next to where the
    import would find the package, and imports nothing; where there is no
    single dist-info folder (an sdist's egg-info) it imports the package."""
    import importlib
    import os

    try:
        module = importlib.import_module(distribution)
    except ImportError:
        pytest.skip("%s is not installed in this cell" % distribution)
    site = os.path.dirname(module.__path__[0])
    result = read_in_child(site, distribution, distribution, "before")
    assert result["from"].startswith(site)
    assert result == dict(result, version=VERSIONS[distribution]), result
    folders = [e for e in os.listdir(site) if e.lower().startswith(distribution + "-") and e.endswith(".dist-info")]
    assert result["imported_by_reading"] is (len(folders) != 1), folders


def test_a_source_tree_without_dist_info_is_imported_to_read_its_version(tmp_path):
    (tmp_path / "portfix_probe").mkdir()
    (tmp_path / "portfix_probe" / "__init__.py").write_text("__version__ = '1.0.2'\n")
    result = read_in_child(tmp_path, "portfix_probe", "portfix_probe", "before")
    assert result == dict(result, version="1.0.2", imported_by_reading=True), result

