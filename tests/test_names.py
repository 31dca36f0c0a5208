"""Names and output that cannot lie: learner ids that never collide, and learner text that reaches a
terminal or a report only cleaned (grader/text.py), quoted where it is a name, marked where it is output."""

from __future__ import annotations

import csv
import hashlib
import re

import pytest

from grader import report, text
from grader.checking import CheckFailed, Output
from grader.html_report import page_name
from grader.i18n import set_lang
from grader.session import learner_ids

SAFE_ID = re.compile(r"[^\s<>:\"/\\|?*\[\]#%&;'`$=+@{}\x00-\x1f\x7f-\x9f]+")


@pytest.fixture(autouse=True)
def english():
    set_lang("en")
    yield
    set_lang("en")


# -- learner ids ---------------------------------------------------------------------------------------
def test_japanese_names_stay_readable_and_distinct():
    ids = learner_ids(["山田", "田中"])
    assert ids == {"山田": "山田", "田中": "田中"}


def test_names_that_differ_only_in_spaces_get_different_ids():
    ids = learner_ids([" honest2", "honest2", "honest2 ", "hon est2"])
    assert len(set(ids.values())) == 4, ids
    assert all(i.startswith("honest2-") or i.startswith("hon-est2-") for i in ids.values()), ids
    assert all(SAFE_ID.fullmatch(i) for i in ids.values()), ids


def test_names_that_differ_only_in_case_get_ids_that_differ_on_a_case_insensitive_disk():
    ids = learner_ids(["A", "a"])
    assert len({i.casefold() for i in ids.values()}) == 2, ids
    assert ids["A"].startswith("A-") and ids["a"].startswith("a-")


def test_a_unique_safe_name_is_its_own_id_and_the_hash_is_of_the_exact_name():
    ids = learner_ids(["alice", "bob smith"])
    assert ids["alice"] == "alice"
    assert ids["bob smith"] == "bob-smith-" + hashlib.sha256("bob smith".encode()).hexdigest()[:6]


def test_ids_are_the_same_on_every_call_and_whatever_the_order():
    names = ["山田 太郎", "A", "a", " x", "x", "..", "a/b"]
    first = learner_ids(names)
    assert learner_ids(list(reversed(names))) == first == learner_ids(names)


def test_unsafe_characters_never_reach_an_id():
    names = ["..", ".", ".hidden", "a/b", "a\\b", "x\u202ey", "tab\there", "new\nline", "bell\x07", "c:d",
             "=cmd|' /C calc'!A0", "[x]", "a#b", "ｔｅｓｔ", "日本 語"]
    ids = learner_ids(names)
    assert len(set(ids.values())) == len(names)
    for name, learner_id in ids.items():
        assert SAFE_ID.fullmatch(learner_id), (name, learner_id)
        assert not learner_id.startswith((".", "-")), learner_id
    assert ids["日本 語"].startswith("日本-語-") and ids["ｔｅｓｔ"] == "ｔｅｓｔ"


def test_a_plain_name_equal_to_another_folders_hashed_id_does_not_take_it():
    hashed = learner_ids(["a b"])["a b"]
    ids = learner_ids(["a b", hashed])
    assert ids["a b"] == hashed and ids[hashed] != hashed and ids[hashed].startswith(hashed + "-")


def test_a_folder_called_index_cannot_replace_the_overview():
    ids = learner_ids(["index", "Index", "INDEX.html", "con"])
    assert len({i.casefold() for i in ids.values()}) == 4
    for learner_id in ids.values():
        assert page_name(learner_id).casefold() != "index.html", learner_id
    # ids given some other way (older reports) still keep off the overview's page
    assert page_name("index") == "_index.html" and page_name("Index").casefold() != "index.html"


def test_long_names_are_cut_to_a_readable_part_and_stay_distinct():
    ids = learner_ids(["x" * 300, "x" * 301])
    assert len(set(ids.values())) == 2 and all(len(i) < 60 for i in ids.values()), ids


# -- clean ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, shown", [
    ("\x1b", "\\x1b"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    ("✔ fake\rgraded", "✔ fake\\rgraded"),
    ("\x9b2J", "\\x9b2J"),
    ("\x7f\x00\x08", "\\x7f\\x00\\x08"),
    ("abc\u202edef", "abc\\u202edef"),
    ("\u2066x\u2069", "\\u2066x\\u2069"),
    ("山田 太郎（やまだ）", "山田 太郎（やまだ）"),
    ("line one\n\tline two", "line one\n\tline two"),
])
def test_clean_writes_out_what_a_terminal_would_obey(raw, shown):
    assert text.clean(raw) == shown


def test_clean_inline_keeps_a_value_on_its_line_and_cut_says_how_much_is_left():
    assert text.clean("a\nb\tc", inline=True) == "a\\nb\\tc"
    assert text.clean("x" * 2010, text.MAX_VALUE) == "x" * 2000 + "…10 more"
    set_lang("ja")
    assert text.clean("x" * 2010, text.MAX_VALUE) == "x" * 2000 + "…ほか 10 文字"


def test_quoted_names_keep_japanese_readable():
    assert text.quoted("山田") == "'山田'"
    assert text.quoted("a\u202eb\n") == "'a\\u202eb\\n'"
    assert text.quoted("n" * 205) == "'" + "n" * 200 + "'…5 more"


def test_output_lines_are_marked_so_none_passes_for_a_grader_line():
    block = text.output_block("ok\n✔ step1.server all good\x1b[1A\x1b[2K\n\x1b]0;graded\x07\n" + "y" * 400)
    lines = block.split("\n")
    assert all(line.startswith(text.OUTPUT_MARK) for line in lines), lines
    assert "\x1b" not in block and lines[1] == "| ✔ step1.server all good\\x1b[1A\\x1b[2K"
    assert lines[3] == "| " + "y" * text.MAX_LINE + "…100 more"


# -- messages ------------------------------------------------------------------------------------------
def test_a_found_name_is_quoted_and_cannot_start_a_line_of_its_own():
    message = CheckFailed("run.count", name="SampleA\n    ✔ step2.run", count=0, experiment="e",
                          names=["Sample\x1bA", "山田"]).render()
    assert len(message.splitlines()) == 2, message
    assert "'SampleA\\n    ✔ step2.run'" in message and "'Sample\\x1bA', '山田'" in message


def test_found_values_are_bounded():
    message = CheckFailed("run.count", name="SampleA", count=5000, experiment="e",
                          names=[f"run{i:05d}" for i in range(5000)]).render()
    assert len(message) < text.MAX_VALUE + 300 and re.search(r"…\d+ more$", message), message[-80:]


def test_an_output_tail_in_a_message_is_marked_and_cleaned():
    message = CheckFailed("duplicate.not_printed", tail=Output("done\ngraded alice: 27/27 points\r\x1b[2K")).render()
    tail = message.splitlines()[2:]
    assert [line.strip() for line in tail] == ["| done", "| graded alice: 27/27 points", "| \\x1b[2K"], message
    assert "\x1b" not in message and "\r" not in message


def test_a_param_key_cannot_break_the_line():
    message = CheckFailed("run.param", name="SampleA", key="Dence", value="128", params={"De\nnce": "1\r28"}).render()
    assert len(message.splitlines()) == 2 and "De\\nnce = '1\\r28'" in message, message


# -- reports -------------------------------------------------------------------------------------------
def _results(learner: str) -> list[report.Result]:
    return [report.Result(learner, "step1.server", "passed"), report.Result(learner, "step1.experiment", "failed",
                                                                              "step1.experiment — …")]


def test_the_folder_is_shown_beside_an_id_that_is_not_it(tmp_path):
    folder = " honest2"
    learner = learner_ids([folder, "honest2"])[folder]
    results = _results(learner) + _results("山田")
    folders = {learner: folder, "山田": "山田"}
    summary = "\n".join(report.summary_lines(results, folders))
    assert f"{learner} (folder ' honest2'): 1/2 points" in summary and "山田: 1/2 points" in summary, summary
    path = tmp_path / "gradebook.csv"
    report.write_gradebook(path, report.gradebook_rows(results, folders))
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[:9] == ["learner", "step1", "step2", "step3", "step4", "step5", "total", "max", "errors"]
    rows = {r["learner"]: r for r in report.read_gradebook(path)}
    assert rows[learner]["folder"] == " honest2" and rows["山田"]["folder"] == "山田"
    data = report.gradescope(report.by_learner(results)[learner], None, None, learner, folder)
    assert data["extra_data"]["learner"] == learner and data["extra_data"]["folder"] == " honest2"


def test_a_folder_name_with_control_characters_is_shown_cleaned(tmp_path):
    folder = "evil\x1b]0;pwned\x07\u202e"
    learner = learner_ids([folder])[folder]
    summary = "\n".join(report.summary_lines(_results(learner), {learner: folder}))
    assert "\x1b" not in summary and "\u202e" not in summary and "\\x1b]0;pwned\\x07\\u202e" in summary
    rows = report.gradebook_rows(_results(learner), {learner: folder})
    assert rows[0]["folder"] == "evil\\x1b]0;pwned\\x07\\u202e"


def test_html_pages_print_every_value_cleaned_and_escaped():
    from grader.html_report import _env

    page = _env().from_string("<p>{{ name }}</p><p>{{ t('html.learner_title', learner=name) }}</p>")
    html = page.render(name="<b>run\u202e\x1b[31m</b>")
    assert "\u202e" not in html and "\x1b" not in html and "<b>" not in html
    assert html.count("&lt;b&gt;run\\u202e\\x1b[31m&lt;/b&gt;") == 2, html
