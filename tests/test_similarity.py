"""``python -m grader similarity``: a synthetic class in which exactly one pair copied (no stack needed)."""

from __future__ import annotations

import csv
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS
from grader import similarity
from grader.session import class_learners, learner_ids
from similarity_class import STEPS, rename, renamed, scripts_of, small_class, write_learner


def run_cli(*args: str, lang: str = "en") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDSON_", "LC_", "LANG"))}
    return subprocess.run([sys.executable, "-m", "grader", "similarity", *args, "--lang", lang], cwd=ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    dest = tmp_path_factory.mktemp("class")
    return dest, small_class(dest)


@pytest.fixture(scope="module")
def cli_run(klass, tmp_path_factory):
    """The class as an instructor runs it: flagged pairs on stdout, every pair in the CSV, the HTML page."""
    dest, _ = klass
    out = tmp_path_factory.mktemp("out")
    (out / "html").mkdir()
    (out / "html" / "index.html").write_text("<!DOCTYPE html>\n<html><body><h1>overview</h1>\n</body></html>\n")
    proc = run_cli(f"--submissions={dest}", "--csv", str(out / "pairs.csv"), "--html-report", str(out / "html"))
    return proc, out


def folders_of(row: dict) -> frozenset:
    return frozenset((row["folder_a"], row["folder_b"]))


# -- what is flagged --------------------------------------------------------------------------------------
def test_exactly_the_planted_pair_is_flagged(klass, cli_run):
    _, facts = klass
    proc, out = cli_run
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / "pairs.csv")
    flagged = [r for r in rows if r["flagged"] == "1"]
    assert {folders_of(r) for r in flagged} == {frozenset(facts["planted"])}, flagged
    assert len(flagged) >= 4, "the copy is found in (nearly) every step"
    assert all(float(r["score"]) >= similarity.DEFAULT_THRESHOLD for r in flagged)
    # stdout: one line per flagged pair, most similar first, and nothing else
    lines = proc.stdout.splitlines()
    assert len(lines) == len(flagged), proc.stdout
    scores = [float(line.split()[0]) for line in lines]
    assert scores == sorted(scores, reverse=True)
    for line in lines:
        assert re.fullmatch(r"\d\.\d\d  step[1-5]: .+ and .+", line), line
        assert "佐藤" in line and "鈴木" in line, line
    assert "14 learner(s)" in proc.stderr and f"{len(flagged)} flagged" in proc.stderr, proc.stderr


def test_correct_answers_and_untouched_stubs_are_not_flagged(klass, cli_run):
    """Renamed copies of the reference answer and untouched stubs share nothing once the stub and the
    solution are subtracted; the learners who left the stub as it was score 0 against each other."""
    _, facts = klass
    _, out = cli_run
    rows = read_csv(out / "pairs.csv")
    good = {"alice", "bob", "carol", "dave", "山田太郎"}
    stub = set(facts["stub"])
    for row in rows:
        pair = folders_of(row)
        if pair <= good or pair <= stub or (pair & stub and pair & good):
            assert float(row["score"]) == 0.0, row


def test_without_the_subtraction_the_whole_class_would_look_copied(klass, monkeypatch):
    """Why the stub and the solution are subtracted: without it, every pair of correct answers is flagged."""
    dest, _ = klass
    kept = similarity.compare(dest)
    import numpy

    monkeypatch.setattr(similarity, "boilerplate", lambda step, rootdir=ROOT: numpy.array([], dtype="int64"))
    monkeypatch.setattr(similarity, "common_limit", lambda scripts: scripts)
    bare = similarity.compare(dest)
    good = {"alice", "bob", "carol", "dave", "山田太郎"}
    flagged = {frozenset((p.a.folder, p.b.folder)) for p in bare.flagged}
    assert {frozenset(pair) for pair in itertools.combinations(good, 2)} <= flagged
    assert len(bare.flagged) > 5 * len(kept.flagged)


def test_the_suites_own_corpus_of_independent_variants_is_not_flagged(tmp_path):
    """The faulty, broken, alternative and hostile submissions of tests/submissions were written one by one,
    most of them from the reference answer: none is a copy of another, and none is flagged."""
    cases = [p for kind in ("faulty", "broken", "alternative", "hostile")
             for p in sorted((SUBMISSIONS / kind).iterdir())
             if p.is_dir() and not p.name.startswith(("_", "."))]  # __pycache__ is no case
    for case in cases:
        write_learner(tmp_path / case.name, scripts_of(case, ROOT / "solutions"))
    shutil.copytree(ROOT / "solutions", tmp_path / "reference")
    shutil.copytree(ROOT / "exercises", tmp_path / "untouched")
    report = similarity.compare(tmp_path)
    assert len(report.learners) == len(cases) + 2 > 30
    assert report.flagged == [], [similarity.pair_line(p) for p in report.flagged]


def test_the_renamer_changes_names_and_comments_but_not_the_code():
    """The synthetic class is what it claims: other names, comments and docstring; the same normalised code."""
    from copydetect.utils import filter_code

    for step in STEPS:
        original = (ROOT / "solutions" / f"{step}.py").read_text(encoding="utf-8")
        copy = rename(original, 7)
        assert copy != original
        assert set(re.findall(r"^\s*#.*", copy, re.M)) != set(re.findall(r"^\s*#.*", original, re.M))
        compile(copy, f"{step}.py", "exec")
        assert filter_code(copy, "x.py", "python")[0] == filter_code(original, "x.py", "python")[0], step
    first = (ROOT / "solutions" / "step1.py").read_text(encoding="utf-8")
    assert "experiment_name" in first and "experiment_name" not in rename(first, 7)


def test_a_copy_that_adds_code_of_its_own_is_still_flagged(tmp_path):
    """The score is the larger share: the original, entirely inside the copy, scores 1 even when the copier
    wrote more around it."""
    original = scripts_of(SUBMISSIONS / "alternative" / "client_api")
    write_learner(tmp_path / "a", original)
    extra = {step: source + "\nfor attempt in range(3):\n    print('attempt', attempt, 'of', 3, flush=True)\n"
             "summary = {'attempts': 3, 'ok': True, 'note': 'done'}\nprint(sorted(summary.items()))\n"
             for step, source in original.items()}
    write_learner(tmp_path / "b", renamed(extra, 3))
    write_learner(tmp_path / "c", renamed(scripts_of(ROOT / "solutions"), 4))
    report = similarity.compare(tmp_path)
    assert {(p.a.folder, p.b.folder) for p in report.flagged} == {("a", "b")}
    assert all(p.share_a > p.share_b and p.score == p.share_a for p in report.flagged)


# -- the CSV -------------------------------------------------------------------------------------------
def test_csv_has_every_pair_with_its_scores(klass, cli_run):
    dest, _ = klass
    _, out = cli_run
    rows = read_csv(out / "pairs.csv")
    assert list(rows[0]) == similarity.CSV_FIELDS
    learners = class_learners(dest)
    assert len(learners) == 14
    expected = {(step, a.id, b.id) for step in STEPS for a, b in itertools.combinations(learners, 2)}
    found = [(r["step"], r["learner_a"], r["learner_b"]) for r in rows]
    assert len(found) == len(set(found)) == len(expected) == 5 * 91
    assert set(found) == expected
    for row in rows:
        assert 0.0 <= float(row["score"]) <= 1.0
        assert float(row["score"]) == max(float(row["share_a"]), float(row["share_b"]))
    assert "every pair" in cli_run[0].stderr and "455 row(s)" in cli_run[0].stderr


# -- names ---------------------------------------------------------------------------------------------
def test_japanese_folders_keep_the_graders_ids_and_their_names(klass, cli_run):
    dest, facts = klass
    proc, out = cli_run
    ids = learner_ids(sorted(p.name for p in dest.iterdir()))
    a, b = facts["planted"]
    assert ids[b] == "鈴木" and ids[a] != a and ids[a].startswith("佐藤-花子-"), ids
    rows = [r for r in read_csv(out / "pairs.csv") if r["flagged"] == "1"]
    assert {(r["learner_a"], r["folder_a"], r["learner_b"], r["folder_b"]) for r in rows} == {(ids[a], a, ids[b], b)}
    assert f"{ids[a]} (folder '佐藤 花子') and 鈴木" in proc.stdout
    japanese = run_cli(f"--submissions={dest}", lang="ja")
    assert japanese.returncode == 0
    assert f"{ids[a]}（フォルダ '佐藤 花子'） と 鈴木" in japanese.stdout
    assert "受講者 14 名" in japanese.stderr


def test_learners_are_found_as_the_grader_finds_them(tmp_path):
    """Hidden and underscore folders and loose files are no learners, as for pytest --submissions."""
    original = scripts_of(SUBMISSIONS / "alternative" / "client_api")
    for name in ("x", "y", ".git", "_shared"):
        write_learner(tmp_path / name, renamed(original, len(name)))
    (tmp_path / "README.md").write_text("class notes\n")
    report = similarity.compare(tmp_path)
    assert [learner.folder for learner in report.learners] == ["x", "y"]
    assert {(p.a.id, p.b.id) for p in report.flagged} == {("x", "y")}


def test_terminal_and_page_show_learner_text_cleaned_and_escaped(tmp_path):
    """A folder name with an escape sequence reaches the terminal written out; script text reaches the page
    escaped; a step script that is a link is left out, its target never read."""
    klass = tmp_path / "class"
    original = scripts_of(SUBMISSIONS / "alternative" / "client_api")
    original["step2"] += 'print("<script>alert(1)</script>", "\\u202e")\nprint("\x1b[31m")\n'
    write_learner(klass / "evil\x1b[2J\u202e", original)
    write_learner(klass / "copy", renamed(original, 9))
    secret = tmp_path / "secret.py"
    secret.write_text("TOKEN = 'do-not-show-me'\n" * 20)
    (klass / "copy" / "step1.py").unlink()
    (klass / "copy" / "step1.py").symlink_to(secret)
    out = tmp_path / "html"
    proc = run_cli(f"--submissions={klass}", "--html-report", str(out), "--csv", str(tmp_path / "p.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "\u202e" not in proc.stdout + proc.stderr
    assert "\\x1b[2J\\u202e" in proc.stdout
    assert "step1.py is a link or not a regular file" in proc.stderr
    assert not [r for r in read_csv(tmp_path / "p.csv") if r["step"] == "step1"]
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page
    assert "do-not-show-me" not in page
    assert not (out / "index.html").exists(), "no overview to link from: only similarity.html"


# -- the HTML report -------------------------------------------------------------------------------------
def test_page_shows_each_flagged_pair_side_by_side_and_the_overview_links_it(klass, cli_run):
    _, facts = klass
    proc, out = cli_run
    page = (out / "html" / "similarity.html").read_text(encoding="utf-8")
    flagged = [r for r in read_csv(out / "pairs.csv") if r["flagged"] == "1"]
    assert page.count('class="pair"') == len(flagged)
    assert page.count('class="view"') == len(flagged)
    assert page.count('<table data-side="a">') == page.count('<table data-side="b">') == len(flagged)
    assert 'class="shared"' in page and 'href="index.html"' in page
    assert "佐藤 花子" in page and "鈴木" in page
    index = (out / "html" / "index.html").read_text(encoding="utf-8")
    assert index.count('href="similarity.html"') == 1 and index.rstrip().endswith("</html>")
    assert index.count('class="similar-pair"') == len(flagged)
    assert [f'href="similarity.html#pair-{n}"' in index for n in range(1, len(flagged) + 1)] == [True] * len(flagged)
    for n in range(1, len(flagged) + 1):
        assert f'id="pair-{n}"' in page
    assert "linked from" in proc.stderr
    # Run again: the overview keeps one link section, with the new count.
    again = run_cli(f"--submissions={klass[0]}", "--html-report", str(out / "html"), "--threshold", "1.0")
    assert again.returncode == 0
    index = (out / "html" / "index.html").read_text(encoding="utf-8")
    assert index.count('id="similarity"') == 1 and index.count(similarity.LINK_START) == 1


def test_side_by_side_rows_mark_shared_lines_with_context():
    code = "\n".join(f"line{i}" for i in range(1, 21))
    rows = similarity._view(code, (5, 6, 15))
    shown = [r["n"] for r in rows if not r["gap"]]
    assert shown == [4, 5, 6, 7, 14, 15, 16]
    assert [r["n"] for r in rows if not r["gap"] and r["shared"]] == [5, 6, 15]
    assert [r["gap"] for r in rows].count(True) == 3  # before 4, between 7 and 14, after 16
    rows = similarity._view("a\nb\n", (1, 2))
    assert [r.get("n") for r in rows] == [1, 2], "a final newline is no line of its own"
    rows = similarity._view("a\x0cb\u2028c\nd\n", (2,))
    assert [r.get("n") for r in rows] == [1, 2] and "\\u2028" in rows[0]["text"], "only \\n ends a line"


# -- the command line ------------------------------------------------------------------------------------
def test_usage_errors_exit_2_with_a_message(tmp_path, capsys):
    from grader.__main__ import main

    missing = run_cli(f"--submissions={tmp_path / 'nope'}")
    assert missing.returncode == 2 and "no such folder" in missing.stderr and "Traceback" not in missing.stderr
    assert missing.stdout == ""
    assert main(["--lang", "ja", "similarity", f"--submissions={tmp_path / 'nope'}"]) == 2
    assert "そのようなフォルダはありません" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(["similarity", f"--submissions={tmp_path / 'a-file'}", "--lang", "en"]) == 2
    assert "no such folder" in capsys.readouterr().err
    for bad in ("1.5", "-0.1", "high", "nan"):
        assert main(["similarity", f"--submissions={tmp_path}", "--threshold", bad]) == 2, bad
        err = capsys.readouterr().err
        assert f"--threshold {bad}: give a number from 0 to 1" in err, err
    proc = subprocess.run([sys.executable, "-m", "grader", "similarity"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "--submissions" in proc.stderr


@pytest.mark.slow  # the similarity command twice (about 3 s)
def test_an_empty_class_and_a_class_without_copies_exit_0(tmp_path):
    proc = run_cli(f"--submissions={tmp_path}", "--csv", str(tmp_path / "p.csv"))
    assert proc.returncode == 0 and proc.stdout == "" and "0 learner(s)" in proc.stderr
    assert read_csv(tmp_path / "p.csv") == []
    for seed, name in enumerate(("a", "b", "c")):
        write_learner(tmp_path / name, renamed(scripts_of(ROOT / "solutions"), seed))
    proc = run_cli(f"--submissions={tmp_path}")
    assert proc.returncode == 0 and proc.stdout == "" and "0 flagged" in proc.stderr


def test_a_learner_without_a_script_has_no_rows_for_that_step(tmp_path):
    for seed, name in enumerate(("a", "b", "c")):
        write_learner(tmp_path / name, renamed(scripts_of(ROOT / "solutions"), seed))
    (tmp_path / "c" / "step4.py").unlink()
    report = similarity.compare(tmp_path)
    rows = similarity.write_csv(tmp_path / "p.csv", report)
    assert rows == 4 * 3 + 1
    assert [learner.folder for learner in report.scripts["step4"]] == ["a", "b"]


def test_help_lists_the_command_in_both_languages(capsys):
    from grader.__main__ import main

    for lang, word in (("en", "share code of their own"), ("ja", "独自のコード")):
        with pytest.raises(SystemExit):
            main(["--lang", lang, "--help"])
        assert word.replace(" ", "") in "".join(capsys.readouterr().out.split())
        with pytest.raises(SystemExit):
            main(["--lang", lang, "similarity", "--help"])
        assert "--threshold" in capsys.readouterr().out


@pytest.mark.slow  # the similarity command twice on the class (about 5 s)
def test_scores_do_not_depend_on_pythons_string_hashing(klass, tmp_path):
    """copydetect hashes k-grams with hash(), salted per process: every k-gram is kept (no winnowing choice),
    so two runs with different salts write the same CSV."""
    dest, _ = klass
    found = []
    for seed in ("1", "2"):
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("HANDSON_")}, "PYTHONHASHSEED": seed}
        path = tmp_path / f"pairs{seed}.csv"
        proc = subprocess.run([sys.executable, "-m", "grader", "similarity", f"--submissions={dest}",
                               "--csv", str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        found.append(path.read_bytes())
    assert found[0] == found[1]


def test_worker_processes_change_nothing_but_the_time(klass, monkeypatch, tmp_path):
    """Scripts are tokenised in worker processes for a large class; hashing stays in this one, so the
    report is the same as with one process."""
    dest, _ = klass
    monkeypatch.setattr(similarity, "PARALLEL_FROM", 1)
    one, two = similarity.compare(dest, workers=1), similarity.compare(dest, workers=2)
    similarity.write_csv(tmp_path / "one.csv", one)
    similarity.write_csv(tmp_path / "two.csv", two)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert [similarity.pair_line(p) for p in one.flagged] == [similarity.pair_line(p) for p in two.flagged]
