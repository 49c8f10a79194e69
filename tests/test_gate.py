"""The gate is a pure function of the versions it is given."""

import pytest

from portfix._gate import decide
from portfix._versions import UnknownVersion

# Cell-independent: decide() is a pure function of the versions each test passes in.
pytestmark = pytest.mark.cell_independent


def applied(versions):
    return sorted((d.defect.id for d in decide(versions) if d.applies), key=lambda i: int(i[1:]))


@pytest.mark.parametrize(
    "flask, werkzeug, expected",
    [
        (None, "0.9.6", ["D5", "D7", "D10"]),
        ("0.10.1", "0.11.2", ["D2", "D5", "D6", "D8", "D9"]),
        ("0.12.5", "0.10.4", ["D2", "D5", "D7", "D10"]),
        ("0.12.5", "0.16.1", ["D2", "D9", "D11"]),
        ("1.0", "0.14.1", ["D1", "D9", "D11"]),
        ("1.0.3", "0.15.6", ["D1", "D9", "D11"]),
        ("1.0.4", "0.16.1", ["D1", "D9", "D11"]),
        ("1.1.0", "0.15.6", ["D3", "D9", "D11"]),
        ("1.1.4", "1.0.1", ["D3", "D9", "D11"]),
        ("2.0.3", "2.0.3", ["D9", "D11"]),  # Flask and Werkzeug gated independently
        ("2.0.3", "2.1.2", []),
        ("3.1.3", "3.1.9", []),
        ("1.0.2+deb9u1", "0.14.1+deb9u1", ["D1", "D9", "D11"]),
        ("0.9", "0.8.3", []),  # older than anything measured: left alone
    ],
)
def test_decide(flask, werkzeug, expected):
    assert applied({"flask": flask, "werkzeug": werkzeug}) == expected


def test_unknown_versions_patch_nothing_and_say_why():
    decisions = decide({"flask": UnknownVersion("no metadata"), "werkzeug": "not-a-version"})
    assert not any(d.applies for d in decisions)
    assert all("version unknown" in d.reason and d.unknown for d in decisions)


def test_d11_is_reported_as_left_alone_on_fixed_werkzeug():
    d11 = [d for d in decide({"flask": None, "werkzeug": "3.1.9"}) if d.defect.id == "D11"][0]
    assert not d11.applies and "policy" in d11.reason
