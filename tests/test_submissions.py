"""Faulty, broken and alternative submissions, graded on the session's real local stack.

``tests/submissions/`` holds

* ``faulty/<case>/stepN.py`` — one realistic learner mistake each. ``expected.txt`` names the one check
  the mistake must fail; every other check of step N must pass, except those listed in ``not_graded.txt``
  (optional, one id a line): checks that need the failed one (``Check.needs``) and cannot hold without
  it, reported as "not graded — needs X" (documented in the case's script).
* ``broken/<case>/stepN.py`` — scripts that crash, do not parse or hang. ``expected.txt`` lists the
  checks that must not pass (one id a line): the first of them fails, showing ``error.txt`` (the
  script's own error), the others fail or are not graded; no message may show a grader traceback. Cases named ``hang_*`` are graded
  in a run of their own with ``--submission-timeout 10``.
* ``alternative/<style>/step1.py … step5.py`` — correct answers in other styles; every learner check
  must pass.

Every case is one learner of ONE grading run (``--submissions``, learner id = folder name, each folder
holding only that case's scripts), so the module pays for each script once, not for a grader start per
case. Checks of steps a case has no script for are not looked at.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, grade  # tests/conftest.py (no __init__.py: pytest puts tests/ on sys.path)
from grader import catalog, report
from grader.i18n import t_in
from grader.catalog import CHECKS

pytestmark = [pytest.mark.realstack, pytest.mark.slow]

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
HANG_TIMEOUT = 10
# The grader keeps each learner's step on one worker (its own xdist scheduler); two workers halve the batch time.
PARALLEL = ["-n", "2"] if importlib.util.find_spec("xdist") else []

CHECKS_OF_STEP = {step: [c.id for c in CHECKS if c.step == step] for step in sorted({c.step for c in CHECKS})}
LEARNER_CHECKS = [c.id for c in CHECKS if c.kind == "learner"]


def _folders(kind: str) -> list[Path]:
    base = SUBMISSIONS / kind
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _scripts(case: Path) -> list[Path]:
    return sorted(case.glob("step[0-9].py"))


def _step(case: Path) -> str:
    scripts = _scripts(case)
    assert len(scripts) == 1, f"{case} must hold exactly one stepN.py, found {[s.name for s in scripts]}"
    return scripts[0].stem


FAULTY = _folders("faulty")
BROKEN = _folders("broken")
ALTERNATIVES = _folders("alternative")
BATCH_BROKEN = [c for c in BROKEN if not c.name.startswith("hang_")]
HANGING = [c for c in BROKEN if c.name.startswith("hang_")]


def _ids(cases: list[Path]) -> list[str]:
    return [c.name for c in cases]


def _build(root: Path, cases: list[Path]) -> Path:
    """A --submissions folder: one sub-folder per case (learner id = folder name), scripts only."""
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), f"case names must be unique across kinds: {sorted(names)}"
    subs = root / "subs"
    for case in cases:
        target = subs / case.name
        target.mkdir(parents=True)
        for script in _scripts(case):
            shutil.copy2(script, target / script.name)
    return subs


def _require(graded, learner: str) -> dict:
    if learner not in graded.results:
        pytest.fail(f"no results for learner {learner!r} (grader exit {graded.returncode}); "
                    f"output tail:\n{graded.output[-4000:]}")
    return graded.results[learner]


@pytest.fixture(scope="module")
def batch(local_stack_file, tmp_path_factory):
    """Faulty cases, crash/syntax cases and alternative styles: one grading run for all of them."""
    root = tmp_path_factory.mktemp("submissions-batch")
    subs = _build(root, FAULTY + BATCH_BROKEN + ALTERNATIVES)
    graded = grade(root, "--lang", "en", *PARALLEL, "--gradebook", str(root / "gradebook.csv"),
                   "--html-report", str(root / "html"), stack_file=local_stack_file, submissions=subs, timeout=1800)
    graded.root = root  # the class (subs/), its gradebook, results (grades/) and HTML report: instructor tests
    return graded


@pytest.fixture(scope="module")
def hung(local_stack_file, tmp_path_factory):
    """Hanging scripts, graded with a short --submission-timeout and only their own steps."""
    root = tmp_path_factory.mktemp("submissions-hang")
    subs = _build(root, HANGING)
    steps = sorted({_step(c) for c in HANGING})
    return grade(root, "--lang", "en", "--submission-timeout", str(HANG_TIMEOUT), "-k", " or ".join(steps),
                 stack_file=local_stack_file, submissions=subs, timeout=600)


def _report(results: dict, checks: list[str]) -> str:
    return "\n".join(f"--- {c}: {results.get(c, {}).get('status')}\n{results.get(c, {}).get('output', '')}"
                     for c in checks)


# -- the catalogue of cases itself (no stack needed) ----------------------------------------------------
def test_every_learner_check_has_a_faulty_case():
    covered = {_lines(c / "expected.txt")[0] for c in FAULTY if _lines(c / "expected.txt")}
    # step2.latest_metrics: the server derives it from the history, so no script gets it wrong with the
    # history right; it is seen failing as not graded under step2.metric_history (step2_latest_all_step0).
    covered |= {"step2.latest_metrics"} & {c for case in FAULTY for c in _lines(case / "not_graded.txt")}
    # step3.in_object_store: the only way a script could miss the object store was to choose an artifact
    # location; the grader's servers refuse that now (broken/step3_artifact_location_refused).
    covered |= {"step3.in_object_store"} & set(_lines(SUBMISSIONS / "broken" / "step3_artifact_location_refused"
                                                       / "expected.txt"))
    missing = [c for c in LEARNER_CHECKS if c not in covered]
    assert not missing, f"learner checks without a faulty submission: {missing}"


@pytest.mark.parametrize("case", FAULTY, ids=_ids(FAULTY))
def test_faulty_case_is_well_formed(case):
    step = _step(case)
    expected = _lines(case / "expected.txt")
    assert len(expected) == 1, f"{case}/expected.txt must hold exactly one check id"
    not_graded = _lines(case / "not_graded.txt")
    for check_id in expected + not_graded:
        assert check_id in LEARNER_CHECKS, f"{check_id!r} is not a learner check"
        assert check_id.split(".")[0] == step, f"{check_id} is not a check of {step}"
    for check_id in not_graded:  # only a check that needs the failed one (maybe through others) can be not graded
        needed, todo = set(), list(catalog.get(check_id).needs)
        while todo:
            needed.add(todo[-1])
            todo += catalog.get(todo.pop()).needs
        assert expected[0] in needed, f"{check_id} does not need {expected[0]}"


def test_alternatives_cover_every_step():
    assert len(ALTERNATIVES) >= 2
    for style in ALTERNATIVES:
        assert [s.stem for s in _scripts(style)] == sorted(CHECKS_OF_STEP), f"{style} lacks a step"


# -- graded ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", FAULTY, ids=_ids(FAULTY))
def test_faulty_submission_fails_exactly_its_check(batch, case):
    results = _require(batch, case.name)
    step = _step(case)
    must_fail, not_graded = set(_lines(case / "expected.txt")), set(_lines(case / "not_graded.txt"))
    wanted = {c: "failed" if c in must_fail else "not_graded" if c in not_graded else "passed"
              for c in CHECKS_OF_STEP[step]}
    found = {c: results.get(c, {}).get("status") for c in wanted}
    assert found == wanted, f"{case.name}: expected {wanted}\nfound {found}\n{_report(results, list(wanted))}"


@pytest.mark.parametrize("style", ALTERNATIVES, ids=_ids(ALTERNATIVES))
def test_alternative_style_passes_every_learner_check(batch, style):
    results = _require(batch, style.name)
    found = {c: results.get(c, {}).get("status") for c in LEARNER_CHECKS}
    not_passed = [c for c, s in found.items() if s != "passed"]
    assert not not_passed, f"{style.name}: {not_passed} did not pass\n{_report(results, not_passed)}"


def test_the_corpus_gets_the_same_verdicts_cold(batch, local_stack_file, tmp_path):
    """The batch is graded warm (each script's interpreter started ahead of its turn, grader/warm.py); graded
    cold (``--no-warm``: ``python script`` at its turn), every case gets the same verdict on every check."""
    assert t_in("en", "header.warm_on") in batch.output, batch.output[-2000:]
    cold = grade(tmp_path, "--lang", "en", "--no-warm", *PARALLEL, stack_file=local_stack_file,
                 submissions=batch.root / "subs", timeout=1800)
    assert t_in("en", "header.warm_off") in cold.output, cold.output[-2000:]
    warm_verdicts = {learner: batch.statuses(learner) for learner in batch.results}
    cold_verdicts = {learner: cold.statuses(learner) for learner in cold.results}
    assert set(cold_verdicts) == set(warm_verdicts), cold.output[-3000:]
    differ = {learner: {c: (warm_verdicts[learner].get(c), s) for c, s in cold_verdicts[learner].items()
                        if warm_verdicts[learner].get(c) != s}
              for learner in cold_verdicts}
    differ = {learner: d for learner, d in differ.items() if d}
    assert not differ, f"(warm, cold) verdicts that differ: {differ}"


_FRAME = re.compile(r'File "([^"]+)"')


def assert_broken_reported(results: dict, case: Path) -> None:
    step = _step(case)
    must_fail = _lines(case / "expected.txt")
    error_text = (case / "error.txt").read_text(encoding="utf-8").strip()
    assert must_fail and error_text, f"{case} needs expected.txt and error.txt"
    statuses = {c: results.get(c, {}).get("status") for c in CHECKS_OF_STEP[step]}
    assert "error" not in statuses.values(), f"a broken script is the learner's failure, not an error: {statuses}"
    assert statuses.get(must_fail[0]) == "failed" and all(statuses.get(c) in ("failed", "not_graded")
                                                          for c in must_fail), (
        f"{case.name}: {must_fail} must not pass, found {statuses}\n{_report(results, must_fail)}")
    for check_id in (c for c, status in statuses.items() if status == "not_graded"):
        # one short line, naming the failed check it needs; never a second expected/found block
        assert re.fullmatch(r"not graded — needs step\d\.\w+(, step\d\.\w+)*", results[check_id]["output"]), \
            results[check_id]["output"]
        assert all(statuses[root] == "failed" for root in results[check_id]["output"].split("needs ")[1].split(", "))
    failed = [c for c, status in statuses.items() if status == "failed"]
    # The script's own output is shown once for the step, under its first failed check; the others point there.
    showing = [c for c in failed if error_text in results[c]["output"]]
    assert len(showing) == 1, f"{case.name}: the script's error {error_text!r} must show exactly once, " \
                              f"found under {showing}\n{_report(results, failed)}"
    for check_id in failed:
        message = results[check_id]["output"]
        if check_id != showing[0]:
            assert f"its output is shown under {showing[0]}" in message, message
        assert "grader/" not in message and "checks/test_" not in message and "_pytest" not in message, (
            f"{check_id}: the grader's own code shows in the message:\n{message}")
        frames = _FRAME.findall(message)
        foreign = [f for f in frames if not (f.endswith(f"/{case.name}/{step}.py") or "site-packages" in f)]
        assert not foreign, f"{check_id}: traceback frames from outside the script: {foreign}\n{message}"


# What a learner reads for some mistakes (the wording the feedback promises, in English).
MESSAGES = {
    "step1_duplicate_uncaught": ("step1.duplicate_rejected", ["exited with code 1", "MlflowException"]),
    "step2_experiment_hardcoded": ("step2.experiment", [
        "found:    none: your runs went into experiment 'my-handson-step2' (id ",
        "call mlflow.set_experiment(os.environ['HANDSON_EXPERIMENT']) before start_run"]),
    "step2_run_not_terminated": ("step2.run", ["found:    RUNNING", "MlflowClient().set_terminated(run_id)"]),
    "step3_json_int": ("step3.json", ["expected: 'file2.json' holds var1 = 1.0 (float)", "found:    var1 = 1 (int)"]),
    "step1_experiment_deleted": ("step1.experiment", ["your script created it, then deleted it"]),
    "step4_children_after_parent": ("step4.timeline", ["ms after 'ParentRun' ended"]),
    "step5_sweep_children_after_parent": ("step5.sweep", ["'alpha=0.001' ended", "ms after 'sweep' ended"]),
    "step5_sweep_child_names": ("step5.sweep", ["'alpha=0.001', 'alpha=0.01', 'alpha=0.1'", "'alpha_0.01'"]),
    "step5_model_name_hardcoded": ("step5.registered", ["your script registered the model as 'my-sgd-model' instead"]),
    "step5_best_tag_bool": ("step5.best", ["(the lowercase string)\n  found:    0 such children", "= 'True'"]),
}


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_message_says_what_was_found(batch, case):
    check_id, fragments = MESSAGES[case]
    message = _require(batch, case)[check_id]["output"]
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in\n{message}"


@pytest.mark.parametrize("case", BATCH_BROKEN, ids=_ids(BATCH_BROKEN))
def test_broken_script_fails_with_its_own_error(batch, case):
    assert_broken_reported(_require(batch, case.name), case)


@pytest.mark.parametrize("case", HANGING, ids=_ids(HANGING))
def test_hanging_script_is_stopped_and_reported(hung, case):
    results = _require(hung, case.name)
    assert_broken_reported(results, case)
    # The timeout is told once for the step (with the script's output), under its first failed check.
    told = [c for c in _lines(case / "expected.txt") if f"after {HANG_TIMEOUT} s" in results[c]["output"]]
    assert len(told) == 1, _report(results, _lines(case / "expected.txt"))
    # No check's hint: the script hung, it did not miss a call the hint would name.
    hinted = [c for c, r in results.items() if r["status"] == "failed" and ("hint:" in r["output"] or "`with" in r["output"])]
    assert not hinted, _report(results, hinted)


# -- names and output that cannot lie ------------------------------------------------------------------
FAKE_LINES = ("\x1b]0;pwned\x07\x1b[32m✔ step1.server\x1b[0m", "graded 山田: 27/27 points\r\x1b[2K", "6 passed")


def test_japanese_learners_keep_their_names_and_a_script_cannot_fake_the_graders_lines(grade_local, tmp_path):
    """A class of 山田 and 田中 (the reference answers) and one whose step 1 prints lines that look like the
    grader's, with escape sequences, then crashes: separate readable ids, full points, the output shown
    marked and cleaned."""
    klass = tmp_path / "class"
    for name in ("山田", "田中"):
        (klass / name).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / "step1.py", klass / name / "step1.py")
    (klass / "faker").mkdir()
    (klass / "faker" / "step1.py").write_text(
        "import sys\n" + "".join(f"print({line!r})\n" for line in FAKE_LINES) + "sys.exit(3)\n", encoding="utf-8")
    gradebook = tmp_path / "gradebook.csv"
    graded = grade_local("-k", "step1", "--lang", "en", "--gradebook", str(gradebook), submissions=klass)
    assert set(graded.results) == {"山田", "田中", "faker"}, graded.output[-3000:]
    for name in ("山田", "田中"):
        assert set(graded.statuses(name).values()) == {"passed"}, (name, graded.output[-3000:])
    from grader import report

    rows = {r["learner"]: r for r in report.read_gradebook(gradebook)}
    assert rows["山田"]["total"] == rows["田中"]["total"] == "6" and rows["山田"]["folder"] == "山田"
    assert "山田: 6/6 points" in graded.output and "田中: 6/6 points" in graded.output
    # progress lines: pytest's node ids write the ids escaped, and every learner is still counted as done
    assert "graded 山田: 6/6 points" in graded.output and "(3/3 learners done)" in graded.output
    message = graded.message("step1.experiment", "faker")
    tail = message[message.index("last lines of its output:"):].splitlines()[1:]
    assert [line.strip() for line in tail] == ["| \\x1b]0;pwned\\x07\\x1b[32m✔ step1.server\\x1b[0m",
                                               "| graded 山田: 27/27 points", "| \\x1b[2K", "| 6 passed"], message
    assert "\x1b" not in graded.output


# -- the instructor's commands on the corpus class (the batch's own reports; issue 19) ------------------------
def _grader(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_instructor_commands_on_the_corpus_class(batch, local_stack_file, tmp_path):
    """The corpus graded as a class (faulty, broken and alternative submissions): its results merged back as two
    shards give its gradebook; a Canvas gradebook from a roster that misses one learner and has one stranger
    says both; the similarity report flags nothing and joins the overview; a regrade of two learners with
    --previous names the one whose work changed."""
    root = batch.root
    subs, results = root / "subs", root / "grades"
    learners = sorted(p.name for p in results.iterdir())
    assert len(learners) == len(FAULTY + BATCH_BROKEN + ALTERNATIVES), batch.output[-3000:]
    # merge: the results folder split in two shards
    halves = [tmp_path / "shard-1", tmp_path / "shard-2"]
    for i, learner in enumerate(learners):
        shutil.copytree(results / learner, halves[i % 2] / learner)
    merged = _grader("merge", *halves, "-o", tmp_path / "merged.csv", "--submissions", subs)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert (tmp_path / "merged.csv").read_text() == (root / "gradebook.csv").read_text()
    refused = _grader("merge", halves[0], "-o", tmp_path / "half.csv", "--submissions", subs)
    assert refused.returncode == 1 and f"{len(learners) // 2} learner(s) of the class are in no shard" in \
        refused.stdout + refused.stderr and not (tmp_path / "half.csv").exists()
    # an LMS gradebook: the roster misses the first learner and lists someone who handed nothing in
    roster = tmp_path / "roster.csv"
    roster.write_text("folder,Student,ID,SIS User ID,SIS Login ID,Section\n" + "".join(
        f"{lr},{lr},{i},S{i},{lr}@uni,A\n" for i, lr in enumerate(learners[1:] + ["nobody_here"], 1)))
    canvas = _grader("merge", results, "-o", tmp_path / "canvas.csv", "--gradebook-format", "canvas",
                     "--roster", roster)
    said = canvas.stdout + canvas.stderr
    assert canvas.returncode == 0, said
    assert "warning: 1 learner(s) are not in the roster" in said and learners[0] in said
    assert "warning: 1 roster entries" in said and "nobody_here" in said
    totals = {r["learner"]: float(r["total"]) for r in report.read_gradebook(root / "gradebook.csv")}
    rows = list(csv.DictReader((tmp_path / "canvas.csv").open(encoding="utf-8")))
    assert {r["SIS Login ID"].split("@")[0]: float(r["MLflow hands-on"]) for r in rows[1:]} == \
        {lr: t for lr, t in totals.items() if lr != learners[0]}
    # the similarity report: independent variants, nothing flagged; the overview links it
    similar = _grader("similarity", "--submissions", subs, "--csv", tmp_path / "pairs.csv",
                      "--html-report", root / "html")
    assert similar.returncode == 0 and similar.stdout == "", similar.stdout + similar.stderr
    assert ", 0 flagged at threshold" in similar.stderr
    assert "similarity.html" in (root / "html" / "index.html").read_text(encoding="utf-8")
    # a regrade of two step-1 learners, one of whom fixed their script: --previous says who changed and how
    regrade = tmp_path / "class"
    shutil.copytree(subs, regrade)
    fixed, same = "step1_experiment_tag_value", "step1_duplicate_uncaught"
    shutil.copy2(ROOT / "solutions" / "step1.py", regrade / fixed / "step1.py")
    again = grade(tmp_path / "again", "--lang", "en", "--learners", f"{fixed},{same}", "--previous", str(results),
                  "--gradebook", str(tmp_path / "again.csv"), stack_file=local_stack_file, submissions=regrade)
    rows = {r["learner"]: r for r in report.read_gradebook(tmp_path / "again.csv")}
    assert sorted(rows) == sorted([fixed, same]), again.output[-3000:]
    assert float(rows[fixed]["delta"]) > 0 and float(rows[same]["delta"]) == 0, rows
    assert f"{fixed}: " in again.output and "→ ✔ step1.experiment_tag" in again.output, again.output[-3000:]
    assert f"{same}: " not in again.output.split("changes since the previous run", 1)[1]
