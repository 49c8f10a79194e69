"""Text from other processes, made safe to print.

A holder's command line, a child's output and a port file's content come
from processes portfix does not control.  Printed raw, an escape sequence in
them could retitle the terminal, erase lines or forge a line under portfix's
name.  ``escape`` makes every character that is not printable visible as a
Python-style escape, so what reaches a terminal is what was there.
"""

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text):
    """Return *text* with every non-printable character escaped visibly.

    Args:
        text (str or None): text that came from outside (a command line,
            a line of a child's output).

    Returns:
        str or None: *text* unchanged when every character is printable
        (``str.isprintable``; the ASCII space counts as printable);
        otherwise each control, format, separator (other than the space),
        surrogate or unassigned character becomes ``\\n``, ``\\r``,
        ``\\t``, ``\\xHH``, ``\\uHHHH`` or ``\\UHHHHHHHH``.  ESC (``\\x1b``),
        DEL, C1 controls, bidirectional overrides (``\\u202e``) and the
        lone surrogates of undecodable bytes (``\\udcff``) are all escaped.
        None stays None.
    """
    if text is None or text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
            continue
        named = _NAMED.get(char)
        if named is not None:
            out.append(named)
            continue
        code = ord(char)
        if code < 0x100:
            out.append("\\x%02x" % code)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    return "".join(out)


def describe(exc):
    """Return one printable line for an exception, its text escaped.

    Args:
        exc (BaseException): any exception; its text may come from another
            process (a server's reply, an app's import error).

    Returns:
        str: ``"TypeName: text"``, escaped as ``escape`` does.
    """
    return escape("%s: %s" % (type(exc).__name__, exc))
