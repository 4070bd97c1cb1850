"""Text output that file names cannot forge: control characters are shown escaped."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, line/paragraph separators and bidirectional overrides: any of
# them in a file name could start a fake line, recolour the terminal or reorder text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` with control characters escaped as Python writes them in a
    string literal (``\\n``, ``\\x1b``, ``\\u202e``)."""
    return _UNSAFE.sub(_escape, str(value))
