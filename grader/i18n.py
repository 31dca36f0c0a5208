"""One message catalogue, English and Japanese side by side.

Every text a learner or instructor reads goes through ``t(key, **values)``. The suite's own tests fail
when a key lacks a language or the two languages use different placeholders.
"""

from __future__ import annotations

import locale
import os

from grader.messages import MESSAGES

LANGS = ("en", "ja")
_lang = "en"


def detect_lang() -> str:
    """``ja`` when the user's locale is Japanese, else ``en``."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var)
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "ja" if loc.lower().startswith("ja") else "en"


def set_lang(lang: str | None) -> str:
    global _lang
    _lang = lang if lang in LANGS else detect_lang()
    return _lang


def get_lang() -> str:
    return _lang


def t(key: str, /, **values) -> str:
    """The message ``key`` in the current language, placeholders filled from ``values``."""
    return t_in(_lang, key, **values)


def t_in(lang: str, key: str, /, **values) -> str:
    """A pair message (expected, found) comes back as its two lines joined by a newline."""
    return "\n".join(t_parts_in(lang, key, **values))


def t_parts(key: str, /, **values) -> tuple[str, ...]:
    """The message ``key`` as its parts: one text, or (expected, found) for a failed check."""
    return t_parts_in(_lang, key, **values)


def t_parts_in(lang: str, key: str, /, **values) -> tuple[str, ...]:
    entry = MESSAGES[key]
    text = entry.get(lang) or entry["en"]
    parts = text if isinstance(text, tuple) else (text,)
    return tuple(part.format(**values) if values else part for part in parts)
