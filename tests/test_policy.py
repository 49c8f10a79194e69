"""The policy's shortcut (``_versions.untouched``) never skips what the gate would apply.

``import portfix`` asks ``untouched`` first and loads the gate only when it
says no; these tests hold the two to the same answer.
"""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _support import VERSIONS
from portfix._defects import FEATURES
from portfix._gate import decide, decide_features
from portfix._versions import NO_OP_FROM, SWITCHES, UnknownVersion, matches, untouched


RELEASES = ["0.8.3", "0.9", "0.9.6", "0.10.1", "0.11", "0.11.2", "0.11.3", "0.12.5", "0.14.1", "0.16.1", "1.0",
            "1.0.2", "1.1.0", "1.1.4", "2.0", "2.0.3", "2.1", "2.1.0", "2.1.2", "2.3.8", "3.0.6", "3.1.3", "3.1.9",
            "10.0", "2.0.0rc1", "2.1.0rc1", "2.1.0.post1", "1.0.2+deb9u1", "2.2.0+local"]
INSTALLED = st.one_of(st.none(), st.sampled_from(RELEASES), st.builds(
    lambda *parts: ".".join(str(p) for p in parts), st.integers(0, 12), st.integers(0, 12), st.integers(0, 12)))


def _anything_applies(versions):
    return any(d.applies for d in decide(versions) + decide_features(versions, set()))


@pytest.mark.cell_independent  # a pure function of the versions it is given
@settings(max_examples=400, deadline=None)
@given(flask=INSTALLED, werkzeug=INSTALLED)
def test_untouched_never_hides_a_defect_or_an_always_on_feature(flask, werkzeug):
    versions = {"flask": flask, "werkzeug": werkzeug}
    if untouched(versions, {}):
        assert not _anything_applies(versions)


@pytest.mark.cell_independent  # a pure function of the versions it is given
@pytest.mark.parametrize("flask, werkzeug", [("2.0.3", "2.1.2"), ("3.1.3", "3.1.9"), (None, "2.1.0"), ("2.0", None)])
def test_fixed_releases_are_untouched(flask, werkzeug):
    assert untouched({"flask": flask, "werkzeug": werkzeug}, {})


@pytest.mark.cell_independent  # a pure function of the versions it is given
@pytest.mark.parametrize("flask, werkzeug", [("1.0.2", "0.14.1"), ("2.0.3", "2.0.3"), ("1.1.4", "2.1.2"), (None, "0.9.6")])
def test_patched_releases_go_to_the_gate(flask, werkzeug):
    versions = {"flask": flask, "werkzeug": werkzeug}
    assert not untouched(versions, {})
    assert _anything_applies(versions)


@pytest.mark.cell_independent  # a pure function of the versions it is given
@pytest.mark.parametrize("name, value", list(itertools.product(SWITCHES, ["", "0", "1", "off"])))
def test_any_switch_set_at_all_goes_to_the_gate(name, value):
    assert not untouched({"flask": "3.1.3", "werkzeug": "3.1.9"}, {name: value})


@pytest.mark.cell_independent  # a pure function of the versions it is given
def test_the_switches_are_every_features_enabled_by():
    assert set(f.enabled_by for f in FEATURES if f.enabled_by is not None) <= set(SWITCHES)
    assert "PORTFIX_DISABLE" in SWITCHES


@pytest.mark.cell_independent  # a pure function of the versions it is given
def test_an_unreadable_version_goes_to_the_gate_which_warns():
    assert not untouched({"flask": UnknownVersion("no metadata"), "werkzeug": "3.1.9"}, {})
    assert not untouched({"flask": "banana", "werkzeug": "3.1.9"}, {})


@pytest.mark.cell_independent  # a pure function of the versions it is given
@pytest.mark.parametrize("feature", [f for f in FEATURES if f.enabled_by is None], ids=lambda f: f.id)
def test_an_always_on_feature_ends_below_the_no_op_line(feature):
    for release in RELEASES:
        if matches(release, ">=" + NO_OP_FROM[feature.distribution]):
            assert not matches(release, feature.affected), release


def test_this_cell():
    fixed = all(v is None or matches(v, ">=" + NO_OP_FROM[d]) for d, v in VERSIONS.items())
    assert untouched(VERSIONS, {}) == fixed
    if fixed:
        assert not _anything_applies(VERSIONS)
