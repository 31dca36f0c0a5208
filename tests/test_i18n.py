"""One message catalogue: every text in both languages, with the same placeholders."""

import re
import string
from pathlib import Path

import pytest

from grader import catalog, i18n
from grader.messages import MESSAGES

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_both_languages_with_the_same_placeholders(key):
    entry = MESSAGES[key]
    assert set(entry) == set(i18n.LANGS), f"{key} has languages {sorted(entry)}"
    assert placeholders(entry["en"]) == placeholders(entry["ja"]), key
    assert not JAPANESE.search(entry["en"]), f"{key}: Japanese in the English text"
    assert JAPANESE.search(entry["ja"]) or not re.search(r"[a-z]{4,} [a-z]{4,} [a-z]{4,}", entry["ja"]), \
        f"{key}: the Japanese text looks untranslated"


@pytest.mark.parametrize("check", catalog.CHECKS, ids=lambda c: c.id)
def test_every_check_has_a_title_and_a_hint(check):
    for suffix in ("title", "hint"):
        assert f"{check.id}.{suffix}" in MESSAGES


def test_every_key_the_code_uses_exists():
    root = Path(__file__).resolve().parents[1]
    used = set()
    pattern = re.compile(r"""(?:\bt|fail|expect\([^,]+,|CheckFailed)\(\s*["']([a-z0-9_]+\.[a-z0-9_.]+)["']""")
    for path in [*root.joinpath("grader").rglob("*.py"), *root.joinpath("checks").glob("*.py")]:
        used |= set(pattern.findall(path.read_text(encoding="utf-8")))
    for match in re.finditer(r'expect\([^\n]*?,\s*"([a-z0-9_]+\.[a-z0-9_]+)"', "".join(
            p.read_text(encoding="utf-8") for p in root.joinpath("checks").glob("*.py"))):
        used.add(match.group(1))
    missing = sorted(k for k in used if k not in MESSAGES)
    assert used, "the scan found no message keys at all"
    assert not missing, missing


def test_language_detection_from_the_locale(monkeypatch):
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert i18n.detect_lang() == "ja"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert i18n.detect_lang() == "en"
    monkeypatch.setenv("LC_ALL", "ja_JP.UTF-8")
    assert i18n.detect_lang() == "ja"


def test_t_in_renders_each_language():
    assert i18n.t_in("ja", "summary.learner", learner="a", score="1", max="2") == "a: 1/2 点"
    assert i18n.t_in("en", "summary.learner", learner="a", score="1", max="2") == "a: 1/2 points"
