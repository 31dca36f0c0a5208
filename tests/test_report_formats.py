"""Gradebooks an LMS imports (--gradebook-format, --roster), regrades (--previous), --learners, and the merge
of shards (gradebooks, results folders, JUnit XML, HTML reports).

Unit tests on the writers and the merge: their inputs are made the way the grader writes them
(report.gradebook_rows / write_gradebook, report.write_gradescope, pytest's JUnit layout), no stack is
started. One real grading run (marked realstack) grades two learners of a class chosen with --learners.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import ROOT, grade
from grader import catalog, i18n, lms, report
from grader.__main__ import main
from grader.report import Result

TOP = catalog.max_points()

# The documented headers (see grader/lms.py for where they come from).
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "MLflow hands-on"]
CSV_HEADER = ["learner", "step1", "step2", "step3", "step4", "step5", "total", "max", "errors", "folder", "restarts",
              "not_graded"]


def results_for(learner: str, failing=(), errors=(), only_step: str | None = None) -> list[Result]:
    """One learner's results as the plugin collects them: every check passed but ``failing`` / ``errors``."""
    out = []
    for check in catalog.CHECKS:
        if only_step and check.step != only_step:
            continue
        if check.id in failing:
            out.append(Result(learner, check.id, "failed",
                              f"{check.id} — {check.title()}\n  expected: right\n  found:    wrong ({check.id})"))
        elif check.id in errors:
            out.append(Result(learner, check.id, "error", "the stack failed"))
        else:
            out.append(Result(learner, check.id, "passed"))
    return out


CLASS = {"alice": (), "bob": ("step2.tag",), "carol": ("step3.text", "step5.best")}


def class_results(learners=CLASS) -> list[Result]:
    return [r for learner, failing in learners.items() for r in results_for(learner, failing)]


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_roster(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


ROSTER = ('Student,ID,SIS User ID,SIS Login ID,Section,Email address,folder\n'
          '"Smith, Alice",101,S001,asmith,MLflow 1,alice@example.org,alice\n'
          '"Ito, Carol",103,S003,cito,MLflow 2,carol@example.org,carol\n'
          '"Lopez, Dana",104,S004,dlopez,MLflow 2,dana@example.org,dana\n')


# -- the default csv is today's format --------------------------------------------------------------------
def test_default_gradebook_keeps_its_columns(tmp_path):
    path = tmp_path / "grades.csv"
    assert report.write_gradebook(path, report.gradebook_rows(class_results())) is None
    rows = rows_of(path)
    assert rows[0] == CSV_HEADER
    assert [r[0] for r in rows[1:]] == ["alice", "bob", "carol"]
    assert [r[6] for r in rows[1:]] == [f"{TOP:g}", f"{TOP - 1:g}", f"{TOP - 2:g}"]


def test_a_folder_name_never_runs_as_a_spreadsheet_formula(tmp_path):
    """A learner names the folder: one starting like a formula is written as text ("'" first) and read back
    exactly; numbers (a negative delta) stay numbers."""
    names = {"alice": "=HYPERLINK(\"http://x\")", "bob": "-2+3", "carol": "'quoted", "dave": "plain"}
    results = class_results({"alice": (), "bob": (), "carol": (), "dave": ()})
    rows = report.gradebook_rows(results, folders=names)
    rows[0]["previous"], rows[0]["delta"] = "99", "-1"
    path = tmp_path / "grades.csv"
    report.write_gradebook(path, rows)
    written = {r[0]: r for r in rows_of(path)[1:]}
    folder = CSV_HEADER.index("folder")
    assert [written[k][folder] for k in names] == ["'=HYPERLINK(\"http://x\")", "'-2+3", "''quoted", "plain"]
    assert written["alice"][-1] == "-1"
    assert {r["learner"]: r["folder"] for r in report.read_gradebook(path)} == names


# -- Canvas ----------------------------------------------------------------------------------------------------
def test_canvas_gradebook_has_the_documented_header_and_points_possible_row(tmp_path):
    roster = lms.read_roster(write_roster(tmp_path / "roster.csv", ROSTER))
    path = tmp_path / "canvas.csv"
    matched = report.write_gradebook(path, report.gradebook_rows(class_results()), "canvas", roster)
    rows = rows_of(path)
    assert rows[0] == CANVAS_HEADER
    # Canvas's own export writes the row indented; its import recognises it by these words.
    assert rows[1] == ["    Points Possible", "", "", "", "", f"{TOP:g}"]
    assert rows[2:] == [["Smith, Alice", "101", "S001", "asmith", "MLflow 1", f"{TOP:g}"],
                        ["Ito, Carol", "103", "S003", "cito", "MLflow 2", f"{TOP - 2:g}"]]
    # bob has no roster row, dana's row has no folder: both are listed, not dropped silently
    assert [r["learner"] for r in matched.missing] == ["bob"]
    assert [e["folder"] for e in matched.orphans] == ["dana"]
    lines = lms.problem_lines(matched, roster, "canvas")
    assert lines[0].startswith("warning: 1 learner(s) are not in the roster") and lines[0].endswith(": bob")
    assert lines[1] == f"  bob: {TOP - 1:g}/{TOP:g} points"
    assert lines[2].startswith("warning: 1 roster entries") and "Lopez, Dana (folder 'dana')" in lines[2]


def test_a_roster_row_without_an_identity_is_listed_not_written(tmp_path):
    """A folder whose row has no identity the LMS matches on (a blank email for Moodle), and a folder
    whose name starts with a space (matched exactly)."""
    roster = lms.read_roster(write_roster(tmp_path / "r.csv", "folder,email\nalice,\n bob,bob@example.org\n"))
    rows = report.gradebook_rows(class_results({"alice": (), "bob-x": ()}), {"bob-x": " bob"})
    path = tmp_path / "moodle.csv"
    matched = report.write_gradebook(path, rows, "moodle", roster)
    assert rows_of(path) == [["Email address", "MLflow hands-on"], ["bob@example.org", f"{TOP:g}"]]
    assert [r["learner"] for r in matched.unidentified] == ["alice"] and not matched.missing
    lines = lms.problem_lines(matched, roster, "moodle")
    assert lines == [f"warning: 1 learner(s) have a row in the roster {tmp_path / 'r.csv'} with none of Email address "
                     f"filled in, so they are not in the moodle gradebook: alice", f"  alice: {TOP:g}/{TOP:g} points"]


def test_canvas_export_with_a_folder_column_is_a_roster(tmp_path):
    """The LMS's own export (BOM, Points Possible row, other assignment columns) plus a folder column."""
    text = ("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (23),Folder\n"
            "    Points Possible,,,,,10.00,\n"
            '"Smith, Alice",101,S001,asmith,MLflow 1,8.00,alice\n')
    roster = lms.read_roster(write_roster(tmp_path / "export.csv", text))
    assert len(roster.entries) == 1 and roster.entries[0]["SIS User ID"] == "S001"
    matched = lms.match([{"learner": "alice", "folder": "alice", "total": "3", "max": "27"}], roster)
    assert not matched.missing and not matched.orphans


def test_canvas_without_roster_uses_the_learner_id(tmp_path):
    path = tmp_path / "canvas.csv"
    rows = report.gradebook_rows(class_results({"alice": ()}), {"alice": "Alice Folder"})
    matched = report.write_gradebook(path, rows, "canvas")
    assert rows_of(path)[2] == ["alice", "", "", "", "", f"{TOP:g}"]
    assert lms.problem_lines(matched, None, "canvas") == []


def test_points_possible_follows_what_was_graded(tmp_path):
    """-k step1: the learners' max is step 1's points, and so is the assignment's."""
    results = results_for("alice", only_step="step1")
    path = tmp_path / "canvas.csv"
    report.write_gradebook(path, report.gradebook_rows(results), "canvas")
    assert rows_of(path)[1][-1] == f"{catalog.max_points('step1'):g}"


# -- Moodle ----------------------------------------------------------------------------------------------------
def test_moodle_gradebook_is_one_identifier_and_one_grade_item(tmp_path):
    roster = lms.read_roster(write_roster(tmp_path / "roster.csv", ROSTER))
    path = tmp_path / "moodle.csv"
    matched = report.write_gradebook(path, report.gradebook_rows(class_results()), "moodle", roster)
    assert rows_of(path) == [["Email address", "MLflow hands-on"], ["alice@example.org", f"{TOP:g}"],
                             ["carol@example.org", f"{TOP - 2:g}"]]
    assert [r["learner"] for r in matched.missing] == ["bob"]


@pytest.mark.parametrize("header, column", [("idnumber", "ID number"), ("Username", "Username"),
                                            ("email", "Email address")])
def test_moodle_identifier_comes_from_the_roster(tmp_path, header, column):
    roster = lms.read_roster(write_roster(tmp_path / "r.csv", f"folder,{header}\nalice,a1\n"))
    path = tmp_path / "moodle.csv"
    report.write_gradebook(path, report.gradebook_rows(class_results({"alice": ()})), "moodle", roster)
    assert rows_of(path) == [[column, "MLflow hands-on"], ["a1", f"{TOP:g}"]]


def test_moodle_without_roster_matches_usernames(tmp_path):
    path = tmp_path / "moodle.csv"
    report.write_gradebook(path, report.gradebook_rows(class_results({"alice": ()})), "moodle")
    assert rows_of(path) == [["Username", "MLflow hands-on"], ["alice", f"{TOP:g}"]]


# -- rosters that cannot be used ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, says_en, says_ja", [
    ("Student,ID\nA,1\n", "the header has no folder column", "folder 列"),
    ("folder,Student\nalice,A\nalice,B\n", "on more than one row: alice", "複数の行にあります: alice"),
])
def test_bad_rosters_are_one_clear_line_in_both_languages(tmp_path, text, says_en, says_ja):
    path = write_roster(tmp_path / "r.csv", text)
    for lang, says in (("en", says_en), ("ja", says_ja)):
        i18n.set_lang(lang)
        with pytest.raises(lms.RosterError) as error:
            lms.read_roster(path)
        assert says in str(error.value), str(error.value)


def test_moodle_needs_an_identifier_column(tmp_path):
    roster = lms.read_roster(write_roster(tmp_path / "r.csv", "folder,Student,Section\nalice,A,1\n"))
    with pytest.raises(lms.RosterError, match="Email address, ID number, Username"):
        lms.moodle_identifier(roster)


# -- --previous ------------------------------------------------------------------------------------------------
def test_previous_gradebook_adds_columns_at_the_end(tmp_path):
    before = tmp_path / "before.csv"
    report.write_gradebook(before, report.gradebook_rows(class_results()))
    now = class_results({"alice": ("step4.parent",), "bob": (), "carol": ("step3.text", "step5.best"), "dave": ()})
    rows = report.add_previous(report.gradebook_rows(now), report.read_previous(before))
    after = tmp_path / "after.csv"
    report.write_gradebook(after, rows)
    got = rows_of(after)
    assert got[0] == CSV_HEADER + ["previous", "delta"]
    table = {r[0]: r[-2:] for r in got[1:]}
    assert table == {"alice": [f"{TOP:g}", "-1"], "bob": [f"{TOP - 1:g}", "1"], "carol": [f"{TOP - 2:g}", "0"],
                     "dave": ["", ""]}
    # from a gradebook, the changes are told per step
    lines = report.change_lines(now, report.read_previous(before))
    assert lines == [f"alice: {TOP:g} → {TOP - 1:g} points (-1)", "    step4: 4 → 3",
                     f"bob: {TOP - 1:g} → {TOP:g} points (+1)", "    step2: 6 → 7",
                     f"dave: {TOP:g} points, not graded in the previous run"]


def write_results_dir(folder: Path, results: list[Result], folders: dict | None = None) -> Path:
    for learner, checks in report.by_learner(results).items():
        report.write_gradescope(folder / learner / "results.json", checks, "http://127.0.0.1:5000",
                                learner=learner, folder=(folders or {}).get(learner, learner))
    return folder


def test_previous_results_folder_tells_each_check_that_changed(tmp_path):
    """After a check was fixed: the checks it failed before pass now, one line each, and new failures say why."""
    before = write_results_dir(tmp_path / "before", class_results())
    now = class_results({"alice": ("step4.parent",), "bob": (), "carol": ("step3.text", "step5.best")})
    lines = report.change_lines(now, report.read_previous(before))
    assert lines[0] == f"alice: {TOP:g} → {TOP - 1:g} points (-1)"
    assert lines[1].split()[:4] == ["✔", "→", "✘", "step4.parent"]
    assert lines[2].strip() == "found:    wrong (step4.parent)"
    assert lines[3] == f"bob: {TOP - 1:g} → {TOP:g} points (+1)"
    assert lines[4].split()[:4] == ["✘", "→", "✔", "step2.tag"]
    assert len(lines) == 5, lines  # carol: nothing changed
    rows = report.add_previous(report.gradebook_rows(now), report.read_previous(before))
    assert {r["learner"]: r["delta"] for r in rows} == {"alice": "-1", "bob": "1", "carol": "0"}


def test_html_overview_shows_the_previous_run(tmp_path):
    from grader import html_report, merge

    before = tmp_path / "before.csv"
    report.write_gradebook(before, report.gradebook_rows(class_results({"alice": (), "bob": ("step2.tag",)})))
    now = class_results({"alice": ("step4.parent",), "bob": (), "carol": ()})
    run = merge._MergedRun(report.results_files(write_results_dir(tmp_path / "now", now)))
    context = html_report.overview_context(run, report.by_learner(now), {}, {}, report.read_previous(before))
    index = html_report._env().get_template("overview.html.j2").render(**context)
    cells = {lr: index.split(f'data-learner="{lr}"')[1].split("</tr>")[0] for lr in ("alice", "bob", "carol")}
    assert f'previous">{TOP:g}</td>' in cells["alice"] and 'data-delta="-1">-1<' in cells["alice"]
    assert 'data-delta="1">+1<' in cells["bob"]
    assert 'previous">-</td>' in cells["carol"] and 'data-delta="">-<' in cells["carol"]
    plain = html_report._env().get_template("overview.html.j2").render(
        **html_report.overview_context(run, report.by_learner(now), {}, {}))
    assert "data-delta" not in plain and "previous run" not in plain


def test_previous_that_is_not_a_gradebook_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(report.PreviousError, match="neither a gradebook CSV"):
        report.read_previous(path)


# -- --learners ------------------------------------------------------------------------------------------------
def test_learners_selects_by_folder_or_id_and_names_unknown_ones(tmp_path):
    from grader.session import class_learners, select_learners

    for name in ("alice", "bob", " carol", "dave"):
        (tmp_path / name).mkdir()
    everyone = class_learners(tmp_path)
    carol = next(lr for lr in everyone if lr.folder == " carol")
    chosen = select_learners(everyone, ("dave", carol.id, "alice"), tmp_path)
    assert [lr.folder for lr in chosen] == [" carol", "alice", "dave"]  # class order, as without --learners
    assert [lr.id for lr in select_learners(everyone, (" carol",), tmp_path)] == [carol.id]
    for lang, says in (("en", "2 name(s) match no learner folder"), ("ja", "にない名前が 2 件あります")):
        i18n.set_lang(lang)
        with pytest.raises(ValueError) as error:
            select_learners(everyone, ("alice", "zoe", "bobby"), tmp_path)
        assert says in str(error.value) and "'zoe'" in str(error.value) and "'bobby'" in str(error.value)


def run_pytest(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("lang, says", [("en", "--learners: 1 name(s) match no learner folder (or learner id) of"),
                                        ("ja", "--learners: ")])
def test_unknown_learners_stop_the_run_before_any_stack(tmp_path, lang, says):
    for name in ("alice", "bob"):
        (tmp_path / name).mkdir()
    code, output = run_pytest(f"--submissions={tmp_path}", "--learners=alice,zoe", f"--lang={lang}",
                              "--stack=embedded")
    assert code == 4 and says in output and "'zoe'" in output, output
    if lang == "ja":
        assert "にない名前が 1 件あります" in output, output
    assert "Traceback" not in output


@pytest.mark.parametrize("args, says", [
    (["--learners=alice"], "--learners chooses learners of --submissions=DIR"),
    (["--submissions=exercises/..", "--roster=/nonexistent/roster.csv"], "--roster /nonexistent/roster.csv: no such file"),
    (["--submissions=exercises/..", "--previous=/nonexistent/grades.csv"], "--previous /nonexistent/grades.csv: no such"),
])
def test_bad_class_options_are_one_clear_line(args, says):
    code, output = run_pytest(*args, "--stack=embedded")
    assert code == 4 and says in output and "Traceback" not in output, output


# -- merge -----------------------------------------------------------------------------------------------------
def shard_outputs(root: Path, name: str, results: list[Result], folders: dict | None = None) -> dict[str, Path]:
    """What one shard writes: --gradebook, --grade-json DIR, --junitxml and --html-report DIR."""
    out = root / name
    out.mkdir(parents=True)
    report.write_gradebook(out / "grades.csv", report.gradebook_rows(results, folders))
    write_results_dir(out / "results", results, folders)
    suites = ET.Element("testsuites", name="pytest tests")
    failures = sum(1 for r in results if r.status != "passed")
    suite = ET.SubElement(suites, "testsuite", name="pytest", errors="0", failures=str(failures), skipped="0",
                          tests=str(len(results)), time="2.5", timestamp=f"2026-11-30T03:0{len(name)}:00",
                          hostname="ci")
    for r in results:
        step, check = r.check.split(".")
        shown = r.learner.encode("unicode_escape").decode("ascii")
        case = ET.SubElement(suite, "testcase", classname=f"checks.test_{step}", name=f"test_{check}[{shown}]",
                             time="0.1")
        if r.status != "passed":
            ET.SubElement(case, "failure", message=r.message.splitlines()[0]).text = r.message
    ET.ElementTree(suites).write(out / "junit.xml", encoding="utf-8", xml_declaration=True)
    html = out / "html"
    html.mkdir()
    (html / "index.html").write_text("<html>shard overview</html>", encoding="utf-8")
    for learner in sorted({r.learner for r in results}):
        (html / f"{learner}.html").write_text(f"<html>{learner}'s page</html>", encoding="utf-8")
    return {"gradebook": out / "grades.csv", "results": out / "results", "junit": out / "junit.xml", "html": html}


def run_merge(*args, lang="en"):
    """python -m grader merge, in this process; (exit status, stdout + stderr)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["--lang", lang, "merge", *map(str, args)])
    return code, out.getvalue()


def make_class(root: Path, names) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
    return root


def test_merge_joins_gradebooks_results_junit_and_html(tmp_path):
    class_dir = make_class(tmp_path / "class", ["alice", "bob", "carol", "山田"])
    everyone = class_results({**CLASS, "山田": ("step1.experiment",)})
    one = shard_outputs(tmp_path, "s1", [r for r in everyone if r.learner in ("alice", "carol")])
    two = shard_outputs(tmp_path, "s2", [r for r in everyone if r.learner in ("bob", "山田")])
    out = tmp_path / "merged"
    code, output = run_merge(*[p for shard in (one, two) for p in shard.values()], "-o", out / "grades.csv",
                             "--grade-json", out / "results", "--junitxml", out / "junit.xml",
                             "--html-report", out / "html", "--submissions", class_dir)
    assert code == 0, output
    # the gradebook: the one a single run writes
    single = tmp_path / "single.csv"
    report.write_gradebook(single, report.gradebook_rows(everyone))
    assert (out / "grades.csv").read_text() == single.read_text()
    # results: every learner's results.json, as the shard wrote it
    for learner, shard in (("alice", one), ("bob", two), ("山田", two)):
        assert (out / "results" / learner / "results.json").read_bytes() == \
            (shard["results"] / learner / "results.json").read_bytes()
    # JUnit: one suite, every case, counts added up
    root = ET.parse(out / "junit.xml").getroot()
    suites = list(root.iter("testsuite"))
    assert len(suites) == 1
    assert len(list(root.iter("testcase"))) == len(everyone) == int(suites[0].get("tests"))
    assert int(suites[0].get("failures")) == 4 and float(suites[0].get("time")) == 5.0
    assert suites[0].get("timestamp") == "2026-11-30T03:02:00"
    # HTML: every learner page and an overview with a row per learner, linking to its page
    pages = sorted(p.name for p in (out / "html").glob("*.html"))
    assert pages == ["alice.html", "bob.html", "carol.html", "index.html", "山田.html"]
    index = (out / "html" / "index.html").read_text()
    for learner in ("alice", "bob", "carol", "山田"):
        assert f'data-learner="{learner}"' in index and f'href="{learner}.html"' in index
    assert "2 shards merged" in index
    # the same merge from results folders alone gives the same gradebook
    code, output = run_merge(one["results"], two["results"], "-o", out / "from-results.csv")
    assert code == 0 and (out / "from-results.csv").read_text() == single.read_text(), output


def test_merge_refuses_a_learner_in_two_shards(tmp_path):
    one = shard_outputs(tmp_path, "s1", class_results({"alice": (), "bob": ()}))
    two = shard_outputs(tmp_path, "s2", class_results({"bob": (), "carol": ()}))
    out = tmp_path / "merged"
    for kind, option in (("gradebook", "-o"), ("results", "--grade-json"), ("junit", "--junitxml")):
        target = out / kind
        code, output = run_merge(one[kind], two[kind], option, target)
        assert code == 1 and not target.exists(), output
        assert "merge refused, nothing written" in output
        assert "1 learner(s) in more than one shard: bob (in " in output and str(one[kind]) in output, output
    code, output = run_merge(one["gradebook"], two["gradebook"], "-o", out / "g.csv", lang="ja")
    assert code == 1 and "複数の分割に含まれる受講者が 1 名います: bob（" in output, output


def test_merge_refuses_a_learner_of_the_class_in_no_shard(tmp_path):
    class_dir = make_class(tmp_path / "class", ["alice", "bob", "carol", "dave"])
    one = shard_outputs(tmp_path, "s1", class_results({"alice": (), "carol": ()}))
    two = shard_outputs(tmp_path, "s2", class_results({"bob": ()}))
    code, output = run_merge(one["gradebook"], two["gradebook"], one["junit"], two["junit"], "-o",
                             tmp_path / "g.csv", "--junitxml", tmp_path / "j.xml", "--submissions", class_dir)
    assert code == 1 and not (tmp_path / "g.csv").exists() and not (tmp_path / "j.xml").exists()
    assert "gradebooks: 1 learner(s) of the class are in no shard: dave" in output, output
    assert "JUnit XML: 1 learner(s) of the class are in no shard: dave" in output, output
    # without the class, nothing says dave is missing; with --learners, only those are expected
    assert run_merge(one["gradebook"], two["gradebook"], "-o", tmp_path / "g.csv")[0] == 0
    code, output = run_merge(one["gradebook"], two["gradebook"], "-o", tmp_path / "g2.csv", "--submissions",
                             class_dir, "--learners", "alice,bob,carol")
    assert code == 0, output


def test_merge_writes_lms_gradebooks_with_the_roster(tmp_path):
    one = shard_outputs(tmp_path, "s1", class_results({"alice": ()}))
    two = shard_outputs(tmp_path, "s2", class_results({"bob": ("step2.tag",), "carol": ()}))
    roster = write_roster(tmp_path / "roster.csv", ROSTER)
    code, output = run_merge(one["gradebook"], two["gradebook"], "-o", tmp_path / "canvas.csv",
                             "--gradebook-format", "canvas", "--roster", roster)
    assert code == 0, output
    rows = rows_of(tmp_path / "canvas.csv")
    assert rows[0] == CANVAS_HEADER and rows[1][0].strip() == "Points Possible"
    assert [r[0] for r in rows[2:]] == ["Smith, Alice", "Ito, Carol"]
    assert "warning: 1 learner(s) are not in the roster" in output and f"  bob: {TOP - 1:g}/{TOP:g} points" in output
    assert "warning: 1 roster entries" in output and "Lopez, Dana" in output


def test_merge_says_what_an_input_is_not(tmp_path):
    stray = tmp_path / "notes.txt"
    stray.write_text("x")
    code, output = run_merge(stray, "-o", tmp_path / "g.csv")
    assert code == 1 and "notes.txt: not a gradebook (.csv)" in output
    one = shard_outputs(tmp_path, "s1", class_results({"alice": ()}))
    code, output = run_merge(one["gradebook"])
    assert code == 1 and "nothing to write" in output
    code, output = run_merge(one["gradebook"], "--junitxml", tmp_path / "j.xml")
    assert code == 1 and "--junitxml: no JUnit XML among the inputs" in output
    code, output = run_merge(one["gradebook"], "-o", tmp_path / "g.csv", "--learners", "alice")
    assert code == 1 and "--learners chooses learners of --submissions=DIR" in output
    code, output = run_merge(one["gradebook"], "-o", tmp_path / "g.csv", "--submissions", tmp_path / "nope")
    assert code == 1 and "no such folder" in output and not (tmp_path / "g.csv").exists()


def test_merge_help_speaks_both_languages(capsys):
    for lang, word in (("ja", "まとめた成績表"), ("en", "the merged gradebook to write")):
        with pytest.raises(SystemExit):
            main(["--lang", lang, "merge", "--help"])
        assert word in capsys.readouterr().out


# -- a real run: --learners on a class (starts the session's local stack) --------------------------------------
@pytest.mark.realstack
def test_learners_grades_only_those_learners(tmp_path, local_stack_file):
    """Two learners of three, step 1 only; with --previous (an earlier run's results folder, made here: a_good
    then failed step1.experiment_tag) the gradebook and the terminal say what changed."""
    klass = tmp_path / "class"
    shutil.copytree(ROOT / "solutions", klass / "a_good")
    shutil.copytree(ROOT / "exercises", klass / "b_stub")
    shutil.copytree(ROOT / "solutions", klass / "c_other")
    earlier = [r for r in results_for("a_good", failing=("step1.experiment_tag",), only_step="step1")]
    previous = write_results_dir(tmp_path / "earlier", earlier)
    graded = grade(tmp_path, "-k", "step1", "--learners", "b_stub,a_good", "--gradebook", str(tmp_path / "g.csv"),
                   "--previous", str(previous), stack_file=local_stack_file, submissions=klass)
    assert sorted(graded.results) == ["a_good", "b_stub"], graded.output[-3000:]
    assert set(graded.statuses("a_good").values()) == {"passed"}, graded.output[-3000:]
    assert "failed" in graded.statuses("b_stub").values()
    assert "(2/2 learners done)" in graded.output
    rows = report.read_gradebook(tmp_path / "g.csv")
    top = f"{catalog.max_points('step1'):g}"
    assert [(r["learner"], r["total"], r["previous"], r["delta"]) for r in rows] == [
        ("a_good", top, f"{catalog.max_points('step1') - 1:g}", "1"), ("b_stub", rows[1]["total"], "", "")]
    assert "changes since the previous run" in graded.output
    assert f"a_good: {catalog.max_points('step1') - 1:g} → {top} points (+1)" in graded.output
    assert "✘ → ✔ step1.experiment_tag" in " ".join(graded.output.split()), graded.output[-3000:]
    assert "b_stub: " in graded.output and "not graded in the previous run" in graded.output
