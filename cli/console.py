"""Where the CLI prints: results to stdout through Rich, errors as one line on stderr.

Every string printed through these consoles is made harmless first: labels come from YAML files
and results folders, and an ANSI escape or a right-to-left override in a variant's name must
show as what it is, not recolour the terminal or reverse the text after it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

#: kept as they are: line structure of multi-line output
_KEPT = frozenset("\n\t")


def _escape(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:  # as a UTF-16 surrogate pair, which JSON reads back as the character
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with control characters (C0, C1, DEL), format characters (bidi overrides and
    isolates, zero-width joiners) and line/paragraph separators written as \\uXXXX escapes;
    newlines and tabs kept. The escapes are also valid inside a JSON string."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        char if char in _KEPT or unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp")
        else _escape(char)
        for char in text
    )


class SafeConsole(Console):
    """A Rich console that escapes what `printable` escapes: strings before layout (so tables
    keep their widths), and any text still unescaped (a progress bar's label) as it is written."""

    def render_str(self, text: str, *args, **kwargs):
        return super().render_str(printable(text), *args, **kwargs)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text), segment.style)
            for segment in buffer
        )


stdout = SafeConsole()
stderr = SafeConsole(stderr=True)


def print_error(message: str) -> None:
    # markup off: messages quote user input (YAML keys, paths) that may contain brackets
    stderr.print("error: " + message, style="bold red", markup=False, highlight=False, soft_wrap=True)


class Interrupted(Exception):
    """Ctrl-C, handled by a command: the message says where things stand (exit 130)."""
