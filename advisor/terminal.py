"""Text that is safe to print on a terminal.

Tag names, run directories and file paths come from users' files: a name holding an escape
sequence could clear the screen, retitle the window or forge a line of output. Every string a
command prints passes through :func:`terminal_safe`, which spells control characters out.
"""

from __future__ import annotations

import re

# C0 and C1 controls (newline and tab included: one printed item is one line), DEL, and the
# Unicode bidirectional overrides that can reorder what a line appears to say.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _spell(m: re.Match[str]) -> str:
    c = m.group(0)
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def terminal_safe(text: str) -> str:
    """``text`` with every control character written out (``\\e``, ``\\n``, ``\\x07``, ``\\u202e``)."""
    return _UNSAFE.sub(_spell, text) if _UNSAFE.search(text) else text
