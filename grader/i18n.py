"""One message catalogue, English and Japanese side by side.

Every text a learner or instructor reads goes through ``t(key, **values)``. The suite's own tests fail
when a key lacks a language or the two languages use different placeholders.

Values are learner text more often than not, so filling a placeholder cleans its value (grader/text.py):
control characters and bidi controls written out, cut at ``text.MAX_VALUE``. ``{name!r}`` shows a name
quoted (``text.quoted``: Python's repr, Japanese kept readable).
"""

from __future__ import annotations

import locale
import os
import re
import string

from grader import text
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
    return tuple(_FORMATTER.format(part, **values) if values else part for part in parts)


def quoted_fields(key: str) -> set[str]:
    """The placeholders of message ``key`` that show a quoted name (``{name!r}``)."""
    entry = MESSAGES[key]
    fields = set()
    for lang_text in entry.values():
        for part in lang_text if isinstance(lang_text, tuple) else (lang_text,):
            fields |= {name for _, name, _, conversion in string.Formatter().parse(part) if name and conversion == "r"}
    return fields


class _Formatter(string.Formatter):
    """``str.format`` whose values are cleaned, and whose ``!r`` quotes names readably."""

    def convert_field(self, value, conversion):
        if conversion == "r":
            return text.quoted(value) if type(value) is str else str(value)
        return super().convert_field(value, conversion)

    def format_field(self, value, format_spec):
        if isinstance(value, str):
            value = text.clean(value, text.MAX_VALUE)
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()


# The few causes the stack's watchdog and the limits write in English, as the reader's language says them;
# any other cause is shown as it was written.
_CAUSES = (
    (re.compile(r"exited with code (?P<code>-?\w+)"), "cause.exited"),
    (re.compile(r"exited with code (?P<code>-?\w+) before (?P<what>.+)"), "cause.exited_before"),
    (re.compile(r"not ready after (?P<seconds>\d+) s \((?P<what>.+)\)"), "cause.not_ready"),
    (re.compile(r"(?P<uri>\S+)/health does not answer 200 \(recorded in (?P<path>.+)\)"), "cause.external_down"),
    (re.compile(r"cannot list the tracking tables: (?P<error>.*)"), "cause.no_tables"),
    (re.compile(r"not installed \(apt-get install (?P<package>\S+)\)"), "cause.not_installed"),
    (re.compile(r"setpriv not found \(util-linux\)"), "cause.no_setpriv"),
    (re.compile(r"memory and pids controllers are not enabled"), "cause.no_controllers"),
    (re.compile(r"no v1 memory, pids or cpu hierarchy"), "cause.no_v1"),
    (re.compile(r"no cgroup2 mount"), "cause.no_cgroup2"),
    (re.compile(r"(?P<mount>\S+) has no controllers \(they are bound to v1\)"), "cause.bound_to_v1"),
    (re.compile(r"the process listening on port (?P<port>\d+) is not this stack's MLflow server \(uid (?P<found>\S+), "
                r"expected (?P<uid>\S+)\); the grader sent it no credentials"), "cause.port_squatter"),
    (re.compile(r"creating the MLflow user (?P<user>'[^']*') failed: (?P<error>.*)"), "cause.user_failed"),
    (re.compile(r"cannot start (?P<program>\S+): (?P<error>.*)"), "cause.cannot_start"),
    (re.compile(r"creating the bucket-scoped keys failed: (?P<error>.*)"), "cause.keys_failed"),
    (re.compile(r"initialising a data directory failed \((?P<program>[^)]*)\)"), "cause.datadir_failed"),
    (re.compile(r"creating MLflow's tables took more than (?P<seconds>\d+) s"), "cause.tables_slow"),
    (re.compile(r"creating MLflow's tables failed \(exit (?P<code>-?\d+)\)"), "cause.tables_failed"),
    (re.compile(r"no stack was handed to this worker"), "cause.no_stack_for_worker"),
    (re.compile(r"access control needs an `mlflow` service with a `command:` list \(the basic-auth app is added to "
                r"it\); see docker-compose.yml"), "cause.compose_command"),
    (re.compile(r"the interpreter's packages are out of reach of an unprivileged user"), "cause.packages_hidden"),
    (re.compile(r"a process cannot enter its cgroup: (?P<error>.*)"), "cause.cannot_enter"),
    (re.compile(r"no controller"), "cause.no_controller"),
    (re.compile(r"could not set up the cgroup (?P<name>\S+): (?P<error>.*)"), "cause.cgroup_setup"),
    (re.compile(r"exit (?P<code>-?\d+)"), "cause.exit"),
    (re.compile(r"root login on its socket"), "cause.what_root_login"),
    (re.compile(r"ready again"), "cause.what_ready_again"),
    (re.compile(r"GET (?P<path>\S+) answered 200"), "cause.what_http_200"),
    (re.compile(r"stopped \(SIGSTOP\)"), "cause.sigstop"),
    (re.compile(r"stopped answering"), "cause.not_answering"),
    (re.compile(r"(?P<uri>\S+)/health stopped answering"), "cause.health_not_answering"),
    (re.compile(r"the tracking database stopped answering: (?P<error>.*)"), "cause.db_not_answering"),
    (re.compile(r"the artifact store stopped answering: the artifact bucket is gone"), "cause.bucket_gone"),
    (re.compile(r"the artifact store stopped answering: (?P<error>.*)"), "cause.store_not_answering"),
    (re.compile(r"the grader is not root"), "cause.not_root"),
)


def cause(written: str) -> str:
    """``written`` (a cause recorded in English) in the current language, when it is one of the common ones."""
    whole = _known(written or "")
    if whole is not None:
        return whole
    # One or several probes' reasons ("; "-joined), each maybe "what: why" (sandbox, limits): translated
    # part by part; a text none of whose parts is known stays as written, its punctuation included.
    parts = (written or "").split("; ")
    translated = [_part(part) for part in parts]
    if translated == parts:
        return written
    return t("cause.sep").join(translated)


def _known(written: str) -> str | None:
    """One known cause in the current language (what it waited for, too), or None."""
    for pattern, key in _CAUSES:
        found = pattern.fullmatch(written)
        if found:
            return t(key, **{name: _part(value) if name == "what" else value
                             for name, value in found.groupdict().items()})
    return None


def _part(written: str) -> str:
    known = _known(written)
    if known is not None:
        return known
    if ": " in written:
        what, why = written.split(": ", 1)
        return f"{what}: {_part(why)}"
    return written
