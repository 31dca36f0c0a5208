"""Learner text made safe to show: one place decides how a run name, a tag value or a script's output
appears in a terminal, a message, a report or a page.

What a learner's script wrote is data, never layout. Control characters (C0 but newline and tab, DEL,
C1), and with them every ANSI escape sequence, and the Unicode bidi overrides and isolates are written
out as Python escapes (``\\x1b``, ``\\u202e``): an escape sequence cannot recolour, retitle or rewrite
the grader's lines, a carriage return cannot overwrite them, and a right-to-left override cannot turn a
name around. Everything else, Japanese included, stays as it is. Long text is cut with "…N more".

Applied at the boundaries, once: message values are formatted through ``grader.i18n`` (which cleans every
value and quotes the ``{name!r}`` ones with ``quoted``), a script's output tail is attached through
``output_block``, and HTML pages print every value through ``clean``.
"""

from __future__ import annotations

import math
import re

MAX_VALUE = 2000  # characters of one value in a message (what was found, an error text)
MAX_NAME = 200  # characters of one name (a run, a tag, a param, an experiment)
MAX_LINE = 300  # characters of one line of a script's output
MAX_MESSAGE = 8000  # characters of a whole result message (values, hint and up to 15 output lines)
OUTPUT_MARK = "| "  # starts every line of a script's output shown in a message

# Bidi embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069), the bidi marks (U+200E,
# U+200F, U+061C) and the line and paragraph separators (U+2028, U+2029), which some viewers break on.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_INLINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def more(count: int) -> str:
    """"…N more" in the learner's language: what a cut left out."""
    from grader.i18n import t

    return t("text.more", count=count)


def cut(text: str, limit: int | None) -> str:
    """``text`` with at most ``limit`` characters, then "…N more"."""
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + more(len(text) - limit)


def clean(text, limit: int | None = None, *, inline: bool = False) -> str:
    """``text`` with its control characters, escape sequences and bidi controls written out visibly.
    Newlines and tabs stay unless ``inline`` (a value that must stay on its line); cut at ``limit``."""
    text = str(text)
    return cut((_UNSAFE_INLINE if inline else _UNSAFE).sub(_escape, text), limit)


def quoted(name, limit: int = MAX_NAME) -> str:
    """A name as a message shows it: quoted the way Python writes a string (``repr``), which escapes every
    character that is not printable (all the above, zero-width and non-breaking spaces too) and keeps
    Japanese and other letters readable; cut at ``limit`` after the closing quote."""
    name = str(name)
    shown = repr(name[:limit])
    return shown + more(len(name) - limit) if len(name) > limit else shown


def output_block(text: str, mark: str = OUTPUT_MARK) -> str:
    """Lines of a learner's script output for a message: each cleaned, cut at ``MAX_LINE`` and started with
    ``mark``, so no line of it can pass for one of the grader's own (``✔ step1…``, ``graded …``)."""
    return "\n".join(mark + clean(line, MAX_LINE) for line in text.splitlines())


def number(value: float) -> str:
    """A float as a message shows it: whole numbers as Python writes them (``150.0``), others to 4
    significant digits, which is what a learner compares by eye (an RMSE of 0.43123456789 reads
    ``≈0.4312``). The ``≈`` says the shown value was rounded: the checks compare the exact value, so a
    found value that differs from the expected one only after the 4th digit must not look equal to it."""
    if not math.isfinite(value):
        return repr(value)
    if value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"
    shown = f"{value:.4g}"
    if shown.lstrip("-").isdigit():  # rounded to a whole number: still written as a float
        shown += ".0"
    return shown if float(shown) == value else "≈" + shown


class Formatted(str):
    """A value already written for the reader (quoted, or a list of quoted names): shown as it is."""
