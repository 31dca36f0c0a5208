"""The learner loop without a stack: `python -m grader hint`, `progress` and `reset`, and the record every
grading run of one submission leaves in `.handson/progress.json` (grader/progress.py, tested on crafted results)."""

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader import catalog, i18n, loop, progress, report
from grader.__main__ import main
from grader.messages import MESSAGES
from grader.stack.peek import width

ROOT = Path(__file__).resolve().parents[1]
VISIBLE = [c for c in catalog.CHECKS if not c.hidden]


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    i18n.set_lang("en")


def make_repo(base: Path, name: str = "repo") -> Path:
    """A learner's repository as the release has it, as far as the loop reads it: checks/ beside exercises/."""
    repo = base / name
    (repo / "checks").mkdir(parents=True)
    (repo / "exercises").mkdir()
    for stub in sorted((ROOT / "exercises").glob("step*.py")):
        (repo / "exercises" / stub.name).write_bytes(stub.read_bytes())
    return repo


def results(**statuses: str) -> list:
    """report.Result objects from check ids written with "__" for ".": step2__run="failed"."""
    return [report.Result("me", check.replace("__", "."), status) for check, status in statuses.items()]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- the pristine stubs ---------------------------------------------------------------------------------
def test_the_shipped_stubs_are_the_exercises_byte_for_byte():
    """`reset` restores grader/stubs/stepN.py: it must be exactly what exercises/ hands out."""
    shipped = sorted(p.name for p in loop.STUBS.glob("*.py"))
    assert shipped == [f"{step}.py" for step in catalog.STEPS]
    for step in catalog.STEPS:
        assert loop.stub_path(step).read_bytes() == (ROOT / "exercises" / f"{step}.py").read_bytes(), \
            f"grader/stubs/{step}.py differs from exercises/{step}.py: copy the exercise there"


# -- the hints in the catalogue ---------------------------------------------------------------------------
@pytest.mark.parametrize("check", catalog.CHECKS, ids=lambda c: c.id)
def test_visible_checks_have_three_distinct_levels_and_hidden_ones_none(check):
    levels = [loop.hint_key(check.id, level) for level in loop.LEVELS]
    assert levels[1] == f"{check.id}.hint", "level 2 is the hint every failure message shows"
    if check.hidden:
        assert not any(key in MESSAGES for key in (levels[0], levels[2]))
        return
    for lang in i18n.LANGS:
        texts = [MESSAGES[key][lang] for key in levels]
        assert all(texts) and len(set(texts)) == 3, (check.id, lang)


def _normal(line: str) -> str:
    return re.sub(r"\s+", "", line).replace('"', "'")


def distinctive_lines(step: str) -> list[str]:
    """The reference solution's code lines a learner does not already read in the stub (normalised)."""
    stub = _normal((ROOT / "exercises" / f"{step}.py").read_text(encoding="utf-8"))
    source = (ROOT / "solutions" / f"{step}.py").read_text(encoding="utf-8")
    lines = []
    for line in source.splitlines():
        code = line.split("#", 1)[0].strip()
        if not code or code.startswith(("import ", "from ", '"""')) or len(_normal(code)) < 12:
            continue
        if _normal(code) not in stub:
            lines.append(_normal(code))
    return lines


def solution_lines_in(text: str, step: str) -> list[str]:
    flat = _normal(text)
    return [line for line in distinctive_lines(step) if line in flat]


@pytest.mark.parametrize("step", catalog.STEPS)
def test_the_detector_of_solution_lines_finds_the_solution_itself(step):
    """The check below can fail: every step's solution has lines of its own, and they are found in it."""
    solution = (ROOT / "solutions" / f"{step}.py").read_text(encoding="utf-8")
    assert distinctive_lines(step)
    assert solution_lines_in(solution, step) == distinctive_lines(step)


@pytest.mark.parametrize("check", VISIBLE, ids=lambda c: c.id)
def test_level_three_is_a_skeleton_with_blanks_never_the_solution(check):
    for lang in i18n.LANGS:
        skeleton = MESSAGES[f"{check.id}.hint3"][lang]
        code = [line for line in skeleton.splitlines() if loop.BLANK in line]
        assert code, f"{check.id} ({lang}): no ____ blank in the level-3 hint"
        assert not solution_lines_in(skeleton, check.step), (check.id, lang, solution_lines_in(skeleton, check.step))


def test_the_export_strips_every_hint_level_of_a_hidden_check():
    from grader.export import _strip_messages

    source = (ROOT / "grader" / "messages.py").read_text(encoding="utf-8")
    stripped = _strip_messages(source, {"step5.model_files"})
    assert "step5.model_files" in source and "step5.model_files" not in stripped
    assert "step5.registered.hint3" in stripped
    namespace: dict = {}
    exec(compile(stripped, "messages.py", "exec"), namespace)
    assert len(namespace["MESSAGES"]) == len(MESSAGES) - 4


# -- hint ---------------------------------------------------------------------------------------------
def test_hints_go_one_level_further_per_call_and_stop_at_three(tmp_path, capsys):
    repo = make_repo(tmp_path)
    submission = repo / "exercises"
    progress.record(submission, results(step2__experiment="passed", step2__run="failed", step2__tag="not_graded"))
    shown = []
    for _ in range(4):
        code, out, _ = run_cli(capsys, "hint", "step2", "--submission", str(submission), "--lang", "en")
        assert code == 0 and out.startswith("step2.run — ")
        level = next(lvl for lvl in loop.LEVELS if f"hint {lvl}/3" in out)
        assert i18n.t_in("en", loop.hint_key("step2.run", level)).splitlines()[0] in out
        shown.append(level)
    assert shown == [1, 2, 3, 3]
    assert json.loads(progress.progress_path(submission).read_text(encoding="utf-8"))["hints"] == {"step2.run": 3}
    code, out, _ = run_cli(capsys, "hint", "step2", "--level", "1", "--submission", str(submission), "--lang", "en")
    assert "hint 1/3" in out and i18n.t_in("en", "step2.run.hint1") in out
    assert progress.load(progress.progress_path(submission))[0]["hints"]["step2.run"] == 3, "--level 1 forgets nothing"


def test_the_next_failing_check_starts_at_level_one(tmp_path, capsys):
    submission = make_repo(tmp_path) / "exercises"
    progress.record(submission, results(step2__experiment="passed", step2__run="failed"))
    for _ in range(2):
        run_cli(capsys, "hint", "step2", "--submission", str(submission), "--lang", "en")
    progress.record(submission, results(step2__run="passed", step2__tag="passed", step2__param="failed"))
    code, out, _ = run_cli(capsys, "hint", "step2", "--submission", str(submission), "--lang", "en")
    assert out.startswith("step2.param — ") and "hint 1/3" in out


def test_a_level_three_hint_in_japanese(tmp_path, capsys):
    submission = make_repo(tmp_path) / "exercises"
    progress.record(submission, results(step3__run="failed"))
    code, out, _ = run_cli(capsys, "hint", "step3", "--level", "3", "--submission", str(submission), "--lang", "ja")
    assert code == 0 and "ヒント 3/3" in out and loop.BLANK in out
    assert MESSAGES["step3.run.hint3"]["ja"].splitlines()[0] in out


def test_a_hidden_check_has_no_hint(tmp_path, capsys, monkeypatch):
    hidden = dataclasses.replace(catalog.get("step2.run"), hidden=True)
    monkeypatch.setattr(catalog, "BY_ID", {**catalog.BY_ID, "step2.run": hidden})
    monkeypatch.setattr(catalog, "CHECKS", tuple(hidden if c.id == "step2.run" else c for c in catalog.CHECKS))
    submission = make_repo(tmp_path) / "exercises"
    progress.record(submission, results(step2__experiment="passed", step2__run="failed"))
    code, out, _ = run_cli(capsys, "hint", "step2", "--submission", str(submission), "--lang", "en")
    assert "hidden check" in out and "hint 1/3" not in out
    assert i18n.t_in("en", "step2.run.hint1") not in out
    assert progress.load(progress.progress_path(submission))[0]["hints"] == {}


@pytest.mark.parametrize("lang, words", [("en", "Grade it first"), ("ja", "先に採点してください")])
def test_no_results_says_how_to_grade_first(tmp_path, capsys, lang, words):
    submission = make_repo(tmp_path) / "exercises"
    code, out, _ = run_cli(capsys, "hint", "step4", "--submission", str(submission), "--lang", lang)
    assert code == 1 and words in out and "pytest -k step4" in out


@pytest.mark.parametrize("command", ["hint", "reset"])
def test_a_wrong_step_is_refused_with_status_2(tmp_path, capsys, command):
    submission = make_repo(tmp_path) / "exercises"
    code, out, err = run_cli(capsys, command, "step9", "--submission", str(submission), "--lang", "en")
    assert code == 2 and "'step9' is not a step" in err and "step1, step2" in err
    assert sorted(p.name for p in submission.iterdir()) == [f"{s}.py" for s in catalog.STEPS]


def test_nothing_to_hint_when_every_check_passed(tmp_path, capsys):
    submission = make_repo(tmp_path) / "exercises"
    progress.record(submission, results(**{c.id.replace(".", "__"): "passed" for c in catalog.CHECKS
                                           if c.step == "step4"}))
    code, out, _ = run_cli(capsys, "hint", "step4", "--submission", str(submission), "--lang", "en")
    assert code == 0 and "no hint needed" in out


def test_hint_reads_a_results_file_too(tmp_path, capsys):
    submission = make_repo(tmp_path) / "exercises"
    path = tmp_path / "r.json"
    report.write_gradescope(path, {r.check: r for r in results(step3__run="passed", step3__text="passed",
                                                               step3__json="failed")})
    code, out, _ = run_cli(capsys, "hint", "step3", "--results", str(path), "--submission", str(submission),
                           "--lang", "en")
    assert code == 0 and out.startswith("step3.json — ") and "hint 1/3" in out


# -- the record a grading run leaves ---------------------------------------------------------------------
def test_where_the_record_lives(tmp_path):
    repo = make_repo(tmp_path)
    assert progress.progress_path(repo / "exercises") == repo / ".handson" / "progress.json"
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    assert progress.progress_path(elsewhere) == elsewhere / ".handson" / "progress.json"


def test_the_writer_counts_gradings_and_keeps_when_a_step_first_passed(tmp_path):
    submission = make_repo(tmp_path) / "exercises"
    step1 = [c.id for c in catalog.CHECKS if c.step == "step1"]
    assert progress.record(submission, results(**{c.replace(".", "__"): "failed" for c in step1}),
                           when="2026-01-01T10:00:00+00:00") is None
    progress.record(submission, results(**{c.replace(".", "__"): "passed" for c in step1}),
                    when="2026-01-02T10:00:00+00:00")
    progress.record(submission, results(step1__experiment="failed", step2__run="passed"),
                    when="2026-01-03T10:00:00+00:00")
    data = json.loads(progress.progress_path(submission).read_text(encoding="utf-8"))
    assert data["steps"]["step1"]["attempts"] == 3 and data["steps"]["step2"]["attempts"] == 1
    assert data["steps"]["step1"]["passed_at"] == "2026-01-02T10:00:00+00:00", "the first pass is kept"
    assert data["steps"]["step1"]["points"] == len(step1) - 1 and data["steps"]["step1"]["checks"]["step1.experiment"] == "failed"
    assert "passed_at" not in data["steps"]["step2"], "one check of a step passing is not the step passed"


def test_the_writer_never_raises_when_it_cannot_write(tmp_path):
    submission = make_repo(tmp_path) / "exercises"
    (submission.parent / ".handson").write_text("a file where the folder goes", encoding="utf-8")
    warning = progress.record(submission, results(step2__run="passed"))
    assert warning is not None and "could not be written" in warning and "\n" not in warning


@pytest.mark.parametrize("content", ["{not json", '{"steps": []}', '{"steps": {"step3": {"checks": [1]}}}', '{"steps": {"step2": {"attempts": "x"}}}',
                                     "\udcff"])
def test_a_corrupt_record_is_replaced_with_a_warning(tmp_path, content):
    submission = make_repo(tmp_path) / "exercises"
    path = progress.progress_path(submission)
    path.parent.mkdir()
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    warning = progress.record(submission, results(step2__run="passed"))
    assert warning is not None and str(path) in warning
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["steps"]["step2"]["checks"] == {"step2.run": "passed"} and data["steps"]["step2"]["attempts"] == 1
    assert not [p for p in path.parent.iterdir() if p != path], "no temporary file left behind"


def test_the_plugin_records_single_submission_runs_only():
    """One call, in the session's end, under `not cfg.submissions`; and no check reads the record."""
    source = (ROOT / "grader" / "plugin.py").read_text(encoding="utf-8")
    calls = [m.start() for m in re.finditer(r"progress\.record\(", source)]
    assert len(calls) == 1
    guard = source.rfind("\n    if ", 0, calls[0])
    assert source[guard:calls[0]].startswith("\n    if not cfg.submissions"), source[guard:calls[0]]
    readers = [str(p.relative_to(ROOT)) for p in [*ROOT.joinpath("checks").glob("*.py"),
                                                  *ROOT.joinpath("grader").rglob("*.py")]
               if re.search(r"\bprogress\.(load|progress_path)\(|[\"']progress\.json[\"']", p.read_text(encoding="utf-8"))
               and p.name not in ("progress.py", "loop.py", "watch.py")]  # the learner loop's commands
    assert not readers, readers


# -- progress ---------------------------------------------------------------------------------------------
def _rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if re.match(r"step[1-5]\b", line)]


def test_progress_shows_a_crafted_record(tmp_path, capsys):
    submission = make_repo(tmp_path) / "exercises"
    path = progress.progress_path(submission)
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "hints": {}, "steps": {
        "step1": {"checks": {c.id: "passed" for c in catalog.CHECKS if c.step == "step1"}, "attempts": 4,
                  "passed_at": "2026-03-04T05:06:07+09:00"},
        "step3": {"checks": {"step3.run": "passed", "step3.text": "failed"}, "attempts": 2}}}), encoding="utf-8")
    code, out, err = run_cli(capsys, "progress", "--submission", str(submission), "--lang", "en")
    assert code == 0 and not err
    rows = {line.split()[0]: line.split() for line in _rows(out)}
    assert rows["step1"] == ["step1", "passed", "2026-03-04", "05:06", "4", "6/6"]
    assert rows["step3"] == ["step3", "not", "yet", "–", "2", "1/5"]
    assert rows["step2"] == ["step2", "not", "graded", "–", "–", "–/7"]


def test_progress_in_japanese_aligns_wide_characters(tmp_path, capsys):
    repo = make_repo(tmp_path, "山田の課題")
    submission = repo / "exercises"
    progress.record(submission, results(step2__run="passed", step2__experiment="failed"))
    attempt = repo / "練習" / "table-1"
    attempt.mkdir(parents=True)
    (attempt / ".practice.json").write_text('{"drill": "table", "seed": 7, "lang": "ja"}', encoding="utf-8")
    (attempt / report.RESULTS_FILE).write_text('{"score": 2.0, "max_score": 3.0, "tests": []}', encoding="utf-8")
    code, out, _ = run_cli(capsys, "progress", "--submission", str(submission), "--lang", "ja")
    assert code == 0 and "山田の課題" in out
    lines = out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("Step"))):][:7]
    points = [line.rsplit(" ", 1)[-1] for line in table[2:]]
    columns = {width(line[:len(line) - len(p)]) for line, p in zip(table[2:], points)}
    assert len(columns) == 1, table
    assert width(table[0]) - width("得点") in columns
    drill = next(line for line in lines if line.startswith("table"))
    assert "練習/table-1" in drill and "7" in drill and drill.endswith("2/3")


def test_progress_from_a_crafted_results_file(tmp_path, capsys):
    submission = make_repo(tmp_path) / "exercises"
    path = tmp_path / "r.json"
    report.write_gradescope(path, {r.check: r for r in results(step4__parent="passed", step4__children="passed",
                                                               step4__child_data="passed", step4__timeline="passed",
                                                               step5__sweep="failed")})
    code, out, _ = run_cli(capsys, "progress", "--results", str(path), "--submission", str(submission), "--lang", "en")
    rows = {line.split()[0]: line.split() for line in _rows(out)}
    assert rows["step4"][1] == "passed" and rows["step4"][-1] == "4/4"
    assert rows["step5"][-1] == "0/5" and rows["step1"][-1] == "–/6"
    assert not progress.progress_path(submission).exists(), "progress only reads"


def test_progress_warns_about_a_corrupt_record_and_goes_on(tmp_path, capsys):
    submission = make_repo(tmp_path) / "exercises"
    path = progress.progress_path(submission)
    path.parent.mkdir()
    path.write_text("[1, 2", encoding="utf-8")
    code, out, err = run_cli(capsys, "progress", "--submission", str(submission), "--lang", "en")
    assert code == 0 and "could not be read" in err and len(_rows(out)) == 5


# -- reset (as a learner types it: a process, an answer on stdin) -----------------------------------------
def reset(submission: Path, *extra: str, answer: str | None = None, lang: str = "en"):
    return subprocess.run([sys.executable, "-m", "grader", "reset", "step2", "--submission", str(submission),
                           "--lang", lang, *extra], cwd=ROOT, input=answer, capture_output=True, text=True,
                          timeout=60, **({} if answer is not None else {"stdin": subprocess.DEVNULL}))


def _edit(script: Path, text: str) -> None:
    script.write_text(script.read_text(encoding="utf-8") + text, encoding="utf-8")


@pytest.mark.parametrize("answer", ["n\n", "\n", "", None, "yes please\n"])
def test_reset_without_a_yes_changes_nothing(tmp_path, answer):
    submission = make_repo(tmp_path) / "exercises"
    script = submission / "step2.py"
    _edit(script, "# my work\n")
    before = script.read_bytes()
    done = reset(submission, answer=answer)
    assert done.returncode == 1, done
    assert "[y/N]" in done.stdout and "nothing changed" in done.stdout
    assert script.read_bytes() == before and not list(submission.glob("*.bak*"))


@pytest.mark.parametrize("answer, extra", [("y\n", ()), ("YES\n", ()), (None, ("--yes",))])
def test_reset_restores_the_stub_and_keeps_the_learners_version(tmp_path, answer, extra):
    submission = make_repo(tmp_path) / "exercises"
    script = submission / "step2.py"
    _edit(script, "# my work\n")
    mine = script.read_bytes()
    done = reset(submission, *extra, answer=answer)
    assert done.returncode == 0, done
    assert script.read_bytes() == (ROOT / "exercises" / "step2.py").read_bytes()
    assert (submission / "step2.py.bak").read_bytes() == mine
    assert ("[y/N]" in done.stdout) == (not extra), "--yes asks nothing"


def test_a_second_reset_keeps_both_backups_and_says_where(tmp_path):
    submission = make_repo(tmp_path) / "exercises"
    script = submission / "step2.py"
    _edit(script, "# first try\n")
    assert reset(submission, "--yes").returncode == 0
    _edit(script, "# second try\n")
    done = reset(submission, answer="y\n")
    assert done.returncode == 0 and "step2.py.bak.1" in done.stdout
    assert (submission / "step2.py.bak").read_text(encoding="utf-8").endswith("# first try\n")
    assert (submission / "step2.py.bak.1").read_text(encoding="utf-8").endswith("# second try\n")
    again = reset(submission, "--yes")
    assert again.returncode == 0 and "already" in again.stdout and not (submission / "step2.py.bak.2").exists()


def test_reset_in_a_japanese_folder_in_japanese(tmp_path):
    submission = make_repo(tmp_path, "山田 花子の演習") / "exercises"
    script = submission / "step2.py"
    _edit(script, "# 途中までの解答\n")
    done = reset(submission, answer="y\n", lang="ja")
    assert done.returncode == 0, done
    assert "元のひな形に戻しますか" in done.stdout and "山田 花子の演習" in done.stdout
    assert (submission / "step2.py.bak").read_text(encoding="utf-8").endswith("# 途中までの解答\n")
    assert script.read_bytes() == loop.stub_path("step2").read_bytes()


def test_reset_writes_a_missing_script_without_a_backup(tmp_path):
    submission = make_repo(tmp_path) / "exercises"
    (submission / "step2.py").unlink()
    done = reset(submission, answer="y\n")
    assert done.returncode == 0 and (submission / "step2.py").read_bytes() == loop.stub_path("step2").read_bytes()
    assert not list(submission.glob("*.bak*"))


def test_the_loop_on_a_copy_of_the_learner_release(tmp_path):
    """What a learner has: the release's own grader package, its stubs and its exercises/."""
    from grader.export import export

    release = export(ROOT, tmp_path / "release")
    assert (release / "grader" / "stubs" / "step3.py").read_bytes() == (ROOT / "exercises" / "step3.py").read_bytes()
    assert not (release / ".handson").exists()
    script = release / "exercises" / "step3.py"
    _edit(script, "# halfway\n")
    progress.record(release / "exercises", results(step3__run="passed", step3__text="failed"))

    def grader(*argv: str, answer: str | None = None):
        return subprocess.run([sys.executable, "-m", "grader", *argv, "--lang", "en"], cwd=release, input=answer,
                              capture_output=True, text=True, timeout=60)

    shown = grader("progress")
    assert shown.returncode == 0 and str(release / ".handson" / "progress.json") in shown.stdout, shown
    assert [line.split()[-1] for line in _rows(shown.stdout)] == ["–/6", "–/7", "1/5", "–/4", "–/5"]
    hinted = grader("hint", "step3")
    assert hinted.returncode == 0 and hinted.stdout.startswith("step3.text — ") and "hint 1/3" in hinted.stdout
    done = grader("reset", "step3", answer="y\n")
    assert done.returncode == 0, done
    assert script.read_bytes() == (ROOT / "exercises" / "step3.py").read_bytes()
    assert (release / "exercises" / "step3.py.bak").read_text(encoding="utf-8").endswith("# halfway\n")


@pytest.mark.parametrize("linked", [".handson", "progress.json"])
def test_the_record_is_never_read_or_written_through_a_link(tmp_path, linked):
    """The grader may grade one learner's repository as root: a learner who links their record to a file of
    the grader's (its stack file holds passwords) gets nothing of it into their record, and nothing written
    there."""
    secret_dir = tmp_path / "grader-cache"
    secret_dir.mkdir()
    secret = secret_dir / "progress.json"
    secret.write_text(json.dumps({"db_url": "mysql://grader:TOPSECRET@h/db", "steps": {}}))
    before = secret.read_text()
    sub = tmp_path / "repo"
    sub.mkdir()
    if linked == ".handson":
        (sub / ".handson").symlink_to(secret_dir)
    else:
        (sub / ".handson").mkdir()
        (sub / ".handson" / "progress.json").symlink_to(secret)
    warning = progress.record(sub, results(step1__experiment="passed"), when="2026-01-01T00:00:00+00:00")
    assert secret.read_text() == before, "the grader wrote through the learner's link"
    assert not list(secret_dir.glob(".progress.json.*")), "a temp file was made in the linked folder"
    if linked == ".handson":
        assert warning and "symbolic link" in warning, warning
    else:
        written = (sub / ".handson" / "progress.json")
        assert not written.is_symlink() and "TOPSECRET" not in written.read_text()
        assert json.loads(written.read_text())["steps"]["step1"]["checks"] == {"step1.experiment": "passed"}


def test_a_record_keeps_only_what_a_record_holds(tmp_path):
    sub = tmp_path / "repo"
    (sub / ".handson").mkdir(parents=True)
    (sub / ".handson" / "progress.json").write_text(json.dumps({"steps": {}, "hints": {}, "extra": "x" * 10}))
    progress.record(sub, results(step1__experiment="failed"), when="2026-01-01T00:00:00+00:00")
    assert set(json.loads((sub / ".handson" / "progress.json").read_text())) == {"version", "steps", "hints"}
