"""One message catalogue: every text in both languages, with the same placeholders."""

import re
import string
from pathlib import Path

import pytest

from grader import catalog, i18n
from grader.messages import MESSAGES

ROOT = Path(__file__).resolve().parents[1]

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_both_languages_with_the_same_placeholders(key):
    entry = {lang: "\n".join(text) if isinstance(text, tuple) else text for lang, text in MESSAGES[key].items()}
    assert set(entry) == set(i18n.LANGS), f"{key} has languages {sorted(entry)}"
    assert type(MESSAGES[key]["en"]) is type(MESSAGES[key]["ja"]), f"{key}: a pair in one language only"
    if isinstance(MESSAGES[key]["en"], tuple):
        assert len(MESSAGES[key]["en"]) == len(MESSAGES[key]["ja"]) == 2, f"{key}: (expected, found)"
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


def test_every_failure_is_an_expected_and_a_found_line():
    """One layout for every failed check: the keys checks fail with are (expected, found) pairs."""
    root = Path(__file__).resolve().parents[1]
    source = "".join(p.read_text(encoding="utf-8") for p in [*root.joinpath("checks").glob("*.py"),
                                                               *root.joinpath("grader").rglob("*.py")])
    keys = set(re.findall(r'\b(?:fail|CheckFailed)\(\s*"([a-z0-9_]+\.[a-z0-9_]+)"', source))
    keys |= set(re.findall(r'\bexpect\([^\n]*?,\s*"([a-z0-9_]+\.[a-z0-9_]+)"', source))
    assert len(keys) > 30, sorted(keys)
    single = sorted(k for k in keys if not isinstance(MESSAGES[k]["en"], tuple))
    assert not single, f"failure messages without an expected/found pair: {single}"


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


# -- values in the learner's language -------------------------------------------------------------------
_REPRS = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\[\]|\{\}|@ step|\(no output\)|\(none\)")


def test_values_render_in_japanese_without_python_reprs():
    from grader.checking import AtStep, fmt
    from grader.i18n import set_lang

    set_lang("ja")
    try:
        for value in (None, True, False, [], {}, set(), AtStep(150.0, 0), {"best": None, "x": "True"},
                      [None, 1.0], {"tagA": "Hoge"}):
            text = fmt(value)
            assert not _REPRS.search(text.replace("'True'", "")), (value, text)
        assert fmt(AtStep(150.0, 0)) == "150.0（step 0）"
        assert fmt(True) == "あり" and fmt(None) == "記録なし"
    finally:
        set_lang("en")


@pytest.mark.parametrize("key", [k for k in MESSAGES if not k.endswith((".title", ".hint"))])
def test_japanese_messages_render_flags_and_nothing_in_japanese(key):
    """Whatever a check passes in (nothing, a flag, an empty list), the Japanese text shows no Python repr
    and no English filler the template itself does not hold."""
    from grader.checking import CheckFailed
    from grader.i18n import set_lang

    template = MESSAGES[key]["ja"]
    template = "\n".join(template) if isinstance(template, tuple) else template
    names = set(re.findall(r"\{(\w+)(?:!r)?\}", template))  # {name!r}: a quoted name
    set_lang("ja")
    try:
        for sample in (None, True, [], {}):
            text = CheckFailed(key, **{n: sample for n in names}).render()
            leftovers = [m for m in _REPRS.findall(text) if m not in template]
            assert not leftovers, (key, sample, text)
    finally:
        set_lang("en")


# -- hints that run in their stub -----------------------------------------------------------------------
_CALL_ARGS = re.compile(r"[\w.]+\(([^()]*)\)")


def _bound_names(stub: str) -> tuple[set, set]:
    """(names bound to values, names bound only by def) in a stub, its code-like TODO comments included."""
    import ast

    values, functions = set(), set()
    lines = [stub] + [line.split(":", 1)[-1] if "TODO" in line else line.lstrip("# ")
                      for line in stub.splitlines() if line.lstrip().startswith("#")]
    for chunk in lines:
        try:
            tree = ast.parse(chunk.strip())
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                values.add(node.id)
            elif isinstance(node, ast.arg):
                values.add(node.arg)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                values.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.FunctionDef):
                functions.add(node.name)
    return values, functions - values


@pytest.mark.parametrize("check", [c for c in catalog.CHECKS if c.kind == "learner"], ids=lambda c: c.id)
def test_hint_code_uses_the_names_of_its_stub(check):
    """A value a hint's code passes to MLflow exists in the stub under that name (not a helper function):
    copying the hint into the stub must not crash it (step5.curves once said `rmse`, the helper)."""
    stub = (ROOT / "exercises" / f"{check.step}.py").read_text(encoding="utf-8")
    values, functions = _bound_names(stub)
    generic = {"os", "mlflow", "e", "N", "value", "run_id", "model_uri", "alpha", "epoch", "True", "False", "None"}
    for lang in ("en", "ja"):
        for args in _CALL_ARGS.findall(MESSAGES[f"{check.id}.hint"][lang]):
            for arg in args.split(","):
                arg = arg.split("=", 1)[-1].strip()
                if not re.fullmatch(r"[A-Za-z_]\w*", arg) or arg in generic:
                    continue
                assert arg not in functions, f"{check.id} hint passes {arg!r}, a function in {check.step}.py"
                assert arg in values, f"{check.id} hint uses {arg!r}, which {check.step}.py never defines"


@pytest.mark.parametrize("argv", [["stack", "up"], ["practice", "grade"], []])
def test_command_line_help_speaks_the_chosen_language(argv, capsys):
    """`python -m grader … --help --lang ja` explains every option in Japanese (argparse's own words aside)."""
    from grader.__main__ import main

    for lang, script in (("ja", JAPANESE), ("en", re.compile(r"\A[^\u3040-\u30ff\u4e00-\u9fff]*\Z"))):
        with pytest.raises(SystemExit) as stop:
            main(["--lang", lang, *argv, "--help"])
        assert stop.value.code == 0
        text = capsys.readouterr().out
        assert script.search(text), (lang, text)
    i18n.set_lang("en")


# -- Japanese that reads as written in Japanese --------------------------------------------------------
def _ja_texts():
    """(where, text, kind) for every Japanese text a learner reads: messages and the drills' texts. kind is
    "condition" (a title or an expected line: a plain-form clause) or "sentence" (addressed to the reader)."""
    from grader.practice import all_drills

    for key, entry in MESSAGES.items():
        ja = entry["ja"]
        if isinstance(ja, tuple):
            yield f"{key} (expected)", ja[0], "condition"
            yield f"{key} (found)", ja[1], "sentence"
        else:
            yield key, ja, "condition" if key.endswith(".title") else "sentence"
    for drill in all_drills().values():
        module = drill.module
        yield f"{module.ID}.TITLE", module.TITLE["ja"], "condition"
        yield f"{module.ID}.TASK", module.TASK["ja"], "sentence"
        for check in module.CHECKS:
            yield f"{module.ID}.{check.name}.title", check.title_text["ja"], "condition"
            yield f"{module.ID}.{check.name}.hint", check.hint_text["ja"], "sentence"


# A sentence that ends in plain form (ない。 だ。 である。 した。), where the catalogue speaks in です/ます.
_PLAIN_ENDING = re.compile(r"(?:ない|である|(?<![まで])した|だ)(?=。|$)", re.M)
GUIDE_JA = ROOT / "docs" / "handson.ja.md"


def test_japanese_terminology_is_one_term_per_concept():
    """The editor's rules, kept mechanically: step (the API argument) is never ステップ; a failed check is
    不合格 (失敗 only for a command that failed: 失敗しました); a drill is 練習課題 (ドリル only at its
    first mention in the guide); the original course's 動作確認課題 appears only as 総合課題（元教材の
    「動作確認課題」）; a learner-facing sentence ends in です/ます."""
    problems = []
    for where, text, kind in _ja_texts():
        if "ステップ" in text:
            problems.append(f"{where}: ステップ (write step): {text}")
        if re.search(r"失敗(?!しました)", text):
            problems.append(f"{where}: 失敗 as a verdict (write 不合格): {text}")
        if "ドリル" in text:
            problems.append(f"{where}: ドリル (write 練習課題): {text}")
        if "動作確認課題" in text:
            problems.append(f"{where}: 動作確認課題 (write 総合課題): {text}")
        if "受講者の誤り" in text or ("あなた" in text and "受講者" in text):
            problems.append(f"{where}: the learner is あなた when spoken to; 'not their mistake' is スクリプトの誤り"
                            f"ではありません when instructors read it too: {text}")
        if "オブジェクトストレージ" in text:
            problems.append(f"{where}: オブジェクトストレージ (write アーティファクトストア): {text}")
        if kind == "sentence" and (found := _PLAIN_ENDING.search(text)):
            problems.append(f"{where}: plain-form ending {found.group()!r}: {text}")
    assert not problems, "\n".join(problems)


def test_japanese_guide_keeps_the_terminology():
    guide = GUIDE_JA.read_text(encoding="utf-8")
    assert "ステップ" not in guide
    assert not re.findall(r"失敗(?!しました|する|します)", guide), re.findall(r".{20}失敗.{10}", guide)
    assert guide.count("ドリル") == 1 and "練習課題（ドリル）" in guide, "ドリル once, as 練習課題（ドリル）"
    assert guide.count("動作確認課題") == 1 and "総合課題（元教材の「動作確認課題」）" in guide
    first = guide.index("パラメータ探索")
    assert guide.startswith("パラメータ探索（スイープ）", first), "パラメータ探索（スイープ） at its first use"
    assert guide.count("スイープ") == 1
    assert "受講者" not in guide.replace("受講者ガイド", ""), "the guide speaks to あなた, not of 受講者"
    assert "脅威モデル" in guide, "sandbox.not_root points at the guide's threat-model section"
    assert "`!`（採点不能）" in guide, "the guide names the ! outcome as the reports do: 採点不能"
    quoted = [line for line in guide.splitlines() if "実際: " in line and re.search(r"', ['…]|）, ", line)]
    assert "カンマ区切り" not in guide and not quoted, \
        f"values in Japanese are joined with 、 (value.sep), and the guide quotes them so: {quoted}"


@pytest.mark.parametrize("key, values, wrong", [
    ("practice.model_tag", {"model": "m", "key": "stage", "expected": "prod", "found": {}}, ["実際: 実際"]),
    ("practice.prediction_missing", {"expected": 12.0}, ["記録なし", "値 "]),
    ("practice.alias_no_version", {"model": "m", "alias": "prod"}, ["（なし）", "のどれか"]),
    ("practice.alias", {"model": "m", "alias": "prod", "versions": ["1"], "found": {}}, ["（なし）", "のどれか"]),
    ("store.nothing_listed", {"name": "SampleB"}, ["一覧されません"]),
])
def test_japanese_messages_read_cleanly_in_their_empty_cases(key, values, wrong):
    """The messages that once rendered as broken Japanese (実際: 実際のタグ…, 値 記録なし, （なし）のどれか),
    rendered with the values a real failure passes in."""
    from grader.checking import CheckFailed

    i18n.set_lang("ja")
    try:
        text = CheckFailed(key, **values).render()
    finally:
        i18n.set_lang("en")
    assert not [w for w in wrong if w in text], text
    assert not _PLAIN_ENDING.search(text.split("\n", 1)[1]), text


@pytest.mark.parametrize("what, word", [("experiment", "実験"), ("registered_model", "登録モデル")])
def test_tampering_names_what_was_touched_in_japanese(what, word):
    from grader.checking import Tampered

    i18n.set_lang("ja")
    try:
        text = Tampered(what, "x", ["bob"]).describe()
    finally:
        i18n.set_lang("en")
    assert text.startswith(f"改ざん: {word} x を") and what not in text, text


def test_alias_drill_says_so_when_the_model_has_no_version():
    """No version at all is its own failure, not 'one of its versions (none)'; no printed line is its own too."""
    from types import SimpleNamespace

    from grader.checking import CheckFailed
    from grader.practice.drills import alias_predict

    outcome = SimpleNamespace(model_name="m", model_versions=lambda: [],
                              db=SimpleNamespace(model_aliases=lambda name: {}),
                              script=SimpleNamespace(output="nothing here\n"))
    values = {"alias": "prod", "prediction": 12.0}
    with pytest.raises(CheckFailed) as failed:
        alias_predict._alias(outcome, values)
    assert failed.value.key == "practice.alias_no_version"
    with pytest.raises(CheckFailed) as failed:
        alias_predict._prediction(outcome, values)
    assert failed.value.key == "practice.prediction_missing"


def test_floats_show_four_significant_digits_and_say_when_rounded():
    """What a learner compares by eye: 0.4312, not 0.43123456789; the ≈ keeps a near miss from looking equal."""
    from grader.checking import AtStep, fmt

    assert fmt(0.43123456789) == "≈0.4312"
    assert fmt([0.001, 0.01, 0.1]) == "0.001, 0.01, 0.1"
    assert fmt(150.0) == "150.0" and fmt(AtStep(100.00001, 0)) == "≈100.0 at step 0"
    assert fmt({"val_rmse": 0.123456}) == "val_rmse = ≈0.1235"


@pytest.mark.parametrize("key", ["run.count", "sweep.children", "best.count", "practice.given_run"])
def test_japanese_counts_of_runs_use_ken(key):
    found = MESSAGES[key]["ja"][1]
    assert "{count} 件" in found and "個" not in "".join(MESSAGES[key]["ja"]), found


@pytest.mark.parametrize("key,values,found", [
    ("registry.missing", {"others": []}, "there is no registered model 'm', and your script registered no model under another name"),
    ("registry.other_names", {"others": ["my-sgd-model"]}, "there is no registered model 'm'; your script registered the model as 'my-sgd-model' instead"),
    ("registry.no_version_one", {"versions": [2]}, "the registered model 'm' exists, but has no version 1 (its versions: 2)"),
])
def test_registered_model_found_lines_are_sentences(key, values, found):
    from grader.checking import CheckFailed

    assert CheckFailed(key, name="m", **values).parts()[1] == found


# -- lists in Japanese ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, values, shown", [
    ("metric.history", {"name": "SampleA", "key": "mse", "expected": "x", "found": "AT_STEPS"},
     "記録された値: 100.0（step 0）、150.0（step 1）"),
    ("experiment.missing", {"name": "e", "others": ["my-exp", "test"]}, "スクリプトが作成した実験: 'my-exp'、'test'"),
    ("experiment.tag", {"key": "purpose", "value": "handson", "tags": {"purpose": "Handson", "x": "1"}},
     "実験のタグ: purpose = 'Handson'、x = '1'"),
    ("sweep.alphas", {"expected": [0.001, 0.01, 0.1], "found": ["0.001", None]}, "alpha の値: '0.001'、記録なし"),
])
def test_japanese_lists_are_joined_with_the_japanese_comma(key, values, shown):
    """A list inside a Japanese sentence reads 'a'、'b' — never 'a', 'b', nor 100.0（step 0）, 150.0（step 1）."""
    from grader.checking import AtStep, CheckFailed

    values = {k: [AtStep(100.0, 0), AtStep(150.0, 1)] if v == "AT_STEPS" else v for k, v in values.items()}
    i18n.set_lang("ja")
    try:
        text = CheckFailed(key, **values).render()
    finally:
        i18n.set_lang("en")
    assert shown in text and "）, " not in text and "', '" not in text, text
    assert ", " in CheckFailed(key, **values).render(), "English keeps its comma"


def test_japanese_joins_in_the_code_use_the_japanese_comma():
    """Every list the grader joins into a message goes through value.sep (or a key of its own), and the HTML
    pages wrap no value in ASCII parentheses and join none with a bare comma."""
    from grader.checking import Tampered

    i18n.set_lang("ja")
    try:
        assert i18n.t("value.sep") == "、"
        owners = Tampered("experiment", "x", ["alice", "bob"]).describe()
        from grader import outcomes

        needs = outcomes.not_graded("step2.tag", ("step2.run", "step2.experiment")).message
    finally:
        i18n.set_lang("en")
    assert "alice、bob" in owners and "[" not in owners, owners
    assert "step2.run、step2.experiment" in needs, needs
    for path in [*ROOT.joinpath("grader").rglob("*.py")]:
        source = path.read_text(encoding="utf-8")
        for line in source.splitlines():
            if re.search(r"""(?:\bt|fail|CheckFailed)\(\s*"[a-z_.]+".*=\s*", "\.join""", line):
                pytest.fail(f"{path.name}: a list joined with ', ' into a message: {line.strip()}")
    for path in ROOT.joinpath("grader", "html_templates").glob("*.j2"):
        source = path.read_text(encoding="utf-8")
        assert "({{" not in source, f"{path.name}: a value in ASCII parentheses (write a message with （）)"
        assert "%}, {%" not in source, f"{path.name}: items joined with ', ' (write {{{{ t('value.sep') }}}})"


def test_the_local_stack_says_what_it_lacks_in_japanese():
    """auto.embedded names the missing programs in the reader's language (no English 'or' inside Japanese)."""
    i18n.set_lang("ja")
    try:
        shown = i18n.t("auto.sep").join(i18n.t(k) for k in ("local.missing_mariadb", "local.missing_minio"))
        text = i18n.t("auto.embedded", missing=shown)
    finally:
        i18n.set_lang("en")
    assert not re.search(r"\b(?:or|and)\b|;", text), text
    assert "）、minio（" in text and "）がないため" in text, text


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_japanese_drill_titles_show_no_python_lists(seed):
    """A check's title is a sentence: its values read 40、65、90 or RGB(17, 233, 146), not [40, 65, 90]."""
    from grader.practice import all_drills

    i18n.set_lang("ja")
    try:
        titles = [c.title() for drill in all_drills().values() for c in drill.checks(seed)]
    finally:
        i18n.set_lang("en")
    listed = [title for title in titles if re.search(r"\[[^\]]*\]|', '", title)]
    assert not listed, listed


def test_a_colour_stays_one_rgb_value_in_japanese():
    from grader.checking import CheckFailed
    from grader import text

    i18n.set_lang("ja")
    try:
        message = CheckFailed("practice.image", path="a.png", expected_height=2, expected_width=3,
                              expected_color=text.Formatted("1, 2, 3"), height=3, width=2,
                              color=text.Formatted("1, 2, 3")).render()
    finally:
        i18n.set_lang("en")
    assert message.count("RGB(1, 2, 3)") == 2, message


def test_japanese_text_puts_japanese_in_full_width_brackets():
    """（説明） in Japanese, never (説明): ASCII brackets around Japanese read as untranslated code. Hints are
    code with a placeholder or two (log_metric('score', 値, step=0)), so they are left out."""
    ascii_brackets = re.compile(r"\([^()]*[\u3040-\u30ff\u4e00-\u9fff][^()]*\)|\[[^\[\]]*[\u3040-\u30ff\u4e00-\u9fff][^\[\]]*\]")
    found = [f"{where}: {m.group()}" for where, text, _ in _ja_texts() if not where.endswith(".hint")
             for m in ascii_brackets.finditer(text)]
    assert not found, found


def test_japanese_in_the_stubs_keeps_the_terminology():
    """The stubs a learner completes (exercises/, the drills' stubs) speak the catalogue's words too."""
    from grader.practice import all_drills

    sources = {p.name: p.read_text(encoding="utf-8") for p in ROOT.joinpath("exercises").glob("*.py")}
    sources |= {f"{d.id} stub": d.module.STUB for d in all_drills().values()}
    problems = []
    for where, source in sources.items():
        for line in source.splitlines():
            if not JAPANESE.search(line):
                continue
            canonical = line.replace("総合課題（元教材の「動作確認課題」）", "")
            for wrong, right in (("ステップ", "step"), ("ドリル", "練習課題"), ("オブジェクトストレージ", "アーティファクトストア"),
                                 ("動作確認課題", "総合課題（元教材の「動作確認課題」）")):
                if wrong in canonical:
                    problems.append(f"{where}: {wrong} (write {right}): {line.strip()}")
            if re.search(r"失敗(?!しました)", line):
                problems.append(f"{where}: 失敗 (write エラーになります / 不合格): {line.strip()}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("written, japanese", [
    ("http://127.0.0.1:5000/health stopped answering", "http://127.0.0.1:5000/health が応答しなくなりました"),
    ("the tracking database stopped answering: (2013, 'Lost connection')",
     "トラッキング用データベースが応答しなくなりました: (2013, 'Lost connection')"),
    ("the artifact store stopped answering: the artifact bucket is gone",
     "アーティファクトストアが応答しなくなりました（バケットがなくなりました）"),
    ("the artifact store stopped answering: timed out", "アーティファクトストアが応答しなくなりました: timed out"),
    ("exited with code 1", "終了コード 1 で終了しました"),
    ("exited with code 1 before GET /health answered 200", "GET /health が 200 を返すようになる前に終了コード 1 で終了しました"),
    ("not ready after 180 s (GET /health answered 200)", "180 秒待っても準備ができませんでした（GET /health が 200 を返すことを待っていました）"),
    ("http://127.0.0.1:5000/health does not answer 200 (recorded in /tmp/s.json)",
     "http://127.0.0.1:5000/health が 200 を返しません（記録先 /tmp/s.json）"),
    ("stopped (SIGSTOP)", "SIGSTOP で一時停止されました"),
    ("bubblewrap: the interpreter's packages are out of reach of an unprivileged user",
     "bubblewrap: 非特権ユーザーからはインタプリタのパッケージを読めません"),
    ("v2: a process cannot enter its cgroup: setpriv: write failed; v1: no controller",
     "v2: プロセスが自分の cgroup に入れません: setpriv: write failed、v1: 使えるコントローラがありません"),
    ("exit 1", "終了コード 1"),
    ("not ready after 60 s (root login on its socket)", "60 秒待っても準備ができませんでした（ソケット経由で root としてログインできることを待っていました）"),
    ("creating MLflow's tables failed (exit 1)", "MLflow のテーブルを作成できませんでした（終了コード 1）"),
    ("creating the MLflow user 'alice' failed: HTTP 400 bad", "MLflow ユーザー 'alice' を作成できませんでした: HTTP 400 bad"),
    ("the process listening on port 5000 is not this stack's MLflow server (uid 1000, expected 999); the grader "
     "sent it no credentials", "ポート 5000 で待ち受けているプロセスはこのスタックの MLflow サーバではありません"
     "（uid 1000、期待 999）。採点プログラムは認証情報を送っていません"),
    ("cannot start /usr/sbin/mariadbd: [Errno 13] Permission denied",
     "/usr/sbin/mariadbd を起動できません: [Errno 13] Permission denied"),
    ("bubblewrap: not installed (apt-get install bubblewrap); setpriv: setpriv not found (util-linux)",
     "bubblewrap: インストールされていません（apt-get install bubblewrap）、setpriv: setpriv が見つかりません（util-linux）"),
    ("v2: memory and pids controllers are not enabled; v1: no v1 memory, pids or cpu hierarchy",
     "v2: cgroup の memory・pids コントローラが有効ではありません、v1: cgroup v1 の memory・pids・cpu 階層がありません"),
    ("v2: something else; v1: no v1 memory, pids or cpu hierarchy",
     "v2: something else、v1: cgroup v1 の memory・pids・cpu 階層がありません"),
    ("something new", "something new"),
    ("the moon is full; the grader sent it nothing",  # unknown: kept whole, with its own punctuation
     "the moon is full; the grader sent it nothing"),
    ("v2: /sys/fs/cgroup has no controllers (they are bound to v1); v1: no v1 memory, pids or cpu hierarchy",
     "v2: /sys/fs/cgroup にはコントローラがありません（cgroup v1 に割り当て済みです）、"
     "v1: cgroup v1 の memory・pids・cpu 階層がありません"),
    ("setpriv: not installed (apt-get install util-linux)", "setpriv: インストールされていません（apt-get install util-linux）"),  # an unknown cause is shown as written, never dropped
])
def test_stack_causes_found_while_grading_read_in_japanese(written, japanese):
    from grader import i18n

    i18n.set_lang("ja")
    assert i18n.cause(written) == japanese
    i18n.set_lang("en")
    assert i18n.cause(written) == written


def test_a_missing_drill_script_is_an_expected_and_a_found_line(tmp_path):
    from grader.checking import StepOutcome
    from grader.i18n import set_lang
    from grader.practice import get, grading
    from grader.runner import ScriptResult

    set_lang("ja")
    drill = get("resume_run")
    script = ScriptResult(script=str(tmp_path / "resume_run.py"), exists=False)
    result = grading._run_check(drill.checks()[0], StepOutcome.__new__(StepOutcome), {}, script)
    assert result.status == "failed"
    lines = result.message.splitlines()
    assert any(line.lstrip().startswith("期待:") for line in lines), lines
    assert any(line.lstrip().startswith("実際:") and "見つかりません" in line for line in lines), lines


def test_a_compose_failure_is_not_named_as_a_missing_image(monkeypatch):
    from grader.i18n import set_lang
    from grader.stack import docker
    from grader.stack.base import StackError

    def broken(files):
        raise StackError("docker", "exit 1")

    monkeypatch.setattr(docker, "unavailable_images", broken)
    set_lang("ja")
    assert docker.images_problem([docker.COMPOSE_FILE]) == "docker compose が使えません（exit 1）"
    monkeypatch.setattr(docker, "unavailable_images", lambda files: [("mysql", "mysql:8.4", "x"), ("minio", "m:1", "y")])
    assert docker.images_problem([docker.COMPOSE_FILE]) == "mysql:8.4、m:1 がこのマシンになく取得（pull）もできません"
