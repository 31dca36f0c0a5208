"""End to end: the grader on real stacks, run the way learners and instructors run it."""

import json
import re

import pytest

from conftest import ROOT, grade, require_local_stack
from grader import catalog

LEARNER_CHECKS = [c.id for c in catalog.CHECKS if c.kind == "learner"]
ALL_CHECKS = [c.id for c in catalog.CHECKS]
GRADER_TRACEBACK = re.compile(r'File "[^"]*(grader|_pytest|pluggy)/')


def test_solutions_pass_every_check_on_local(tmp_path, local_db_version):
    """`--stack local` from scratch: the plugin starts MariaDB, MinIO and MLflow, grades, stops them."""
    assert "MariaDB" in local_db_version or re.match(r"\d+\.\d+", local_db_version)
    graded = grade(tmp_path, "--stack", "local", submission=ROOT / "solutions")
    assert graded.statuses() == {c: "passed" for c in ALL_CHECKS}, graded.output[-3000:]
    assert graded.returncode == 0
    assert "stack = local" in graded.output
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["score"] == report["max_score"] == catalog.max_points()
    assert [t["name"].split()[0] for t in report["tests"]] == ALL_CHECKS


@pytest.mark.slow  # grades the solutions on an embedded stack it starts (about 2 min)
def test_solutions_pass_every_check_on_embedded(tmp_path):
    graded = grade(tmp_path, "--stack", "embedded", submission=ROOT / "solutions")
    assert graded.statuses() == {c: "passed" for c in ALL_CHECKS}, graded.output[-3000:]
    assert "stack = embedded" in graded.output


ROOTS = [c.id for c in catalog.CHECKS if c.kind == "learner" and not c.needs]
STEPS = sorted({c.step for c in catalog.CHECKS})


def _root(check_id: str) -> str:
    needs = catalog.get(check_id).needs
    return check_id if not needs else _root(needs[0])


@pytest.fixture(scope="module")
def stubs_graded(local_stack_file, tmp_path_factory):
    """The untouched stubs, graded once with every report asked for: (graded, folder of the reports). As in
    GitHub Classroom (CI=true), where pytest would otherwise repeat each failure's message in its summary."""
    tmp = tmp_path_factory.mktemp("stubs")
    graded = grade(tmp, "--lang", "en", "--junitxml", str(tmp / "junit.xml"), "--gradebook",
                   str(tmp / "gradebook.csv"), "--html-report", str(tmp / "html"), stack_file=local_stack_file,
                   submission=ROOT / "exercises", env={"CI": "true"})
    return graded, tmp


def _blocks_per_step(graded, label: str) -> dict[str, int]:
    """step -> how many of its checks' messages hold an expected/found block (``label``: "expected")."""
    counts = dict.fromkeys(STEPS, 0)
    for check, entry in graded.results["exercises"].items():
        counts[catalog.get(check).step] += entry["output"].count(label)
    return counts


def test_untouched_stubs_fail_once_per_step(stubs_graded):
    """One mistake, one failed check: each step's root fails with expected/found/hint; what needs it is
    "not graded — needs <root>" in one short line; the score is the stack's 3 points."""
    graded, _ = stubs_graded
    statuses = graded.statuses()
    wanted = {c: "failed" if c in ROOTS else "not_graded" for c in LEARNER_CHECKS}
    assert {c: statuses[c] for c in LEARNER_CHECKS} == wanted, graded.output[-3000:]
    for check in ROOTS:
        message = graded.message(check)
        labels = [line.split(":")[0].strip() for line in message.splitlines()[1:4]]
        assert labels == ["expected", "found", "hint"], f"{check}: {message}"
    for check in set(LEARNER_CHECKS) - set(ROOTS):
        assert graded.message(check) == f"not graded — needs {_root(check)}", check
    assert _blocks_per_step(graded, "expected: ") == dict.fromkeys(STEPS, 1)
    # the terminal too: one expected/found/hint block per step (the roots'), a short line for the others
    for label in ("expected: ", "found: ", "hint: "):
        assert graded.output.count(label) == len(STEPS), (label, graded.output)
    assert "exercises: 3/27 points" in graded.output
    assert "    – step2.tag" in graded.output and "(not graded — needs step2.experiment)" in graded.output
    assert re.search(r"SKIPPED \[1\] checks/test_step2.py:\d+: step2.tag: not graded — needs step2.experiment",
                     graded.output), graded.output
    assert not GRADER_TRACEBACK.search(graded.output), graded.output
    assert "Traceback" not in graded.output
    assert graded.returncode == 1


def test_not_graded_in_every_report(stubs_graded):
    """results.json: "failed" at 0 points (Gradescope knows no other), extra_data says not graded and the root;
    gradebook: a not_graded count; JUnit: <skipped> with the reason; HTML: its own status and mark."""
    import xml.etree.ElementTree as ET

    from grader import report

    graded, tmp = stubs_graded
    results = json.loads((tmp / "results.json").read_text())
    tag = next(t for t in results["tests"] if t["extra_data"]["check"] == "step2.tag")
    assert (tag["status"], tag["score"], tag["extra_data"]) == (
        "failed", 0.0, {"check": "step2.tag", "status": "not_graded", "needs": ["step2.experiment"]})
    assert tag["output"] == "not graded — needs step2.experiment"
    assert results["score"] == 3
    row = report.read_gradebook(tmp / "gradebook.csv")[0]
    not_graded = len(LEARNER_CHECKS) - len(ROOTS)
    assert (row["total"], row["errors"], row["not_graded"]) == ("3", "0", str(not_graded))
    cases = {(case.get("classname").rpartition(".")[2], case.get("name").split("[")[0]): case
             for case in ET.parse(tmp / "junit.xml").getroot().iter("testcase")}
    skipped = cases["test_step2", "test_tag"].find("skipped")
    assert skipped is not None and skipped.get("message") == "step2.tag: not graded — needs step2.experiment"
    assert cases["test_step2", "test_experiment"].find("failure") is not None
    assert sum(1 for case in cases.values() if case.find("skipped") is not None) == not_graded
    page = (tmp / "html" / "exercises.html").read_text(encoding="utf-8")
    assert page.count('data-status="not_graded"') == not_graded
    assert "not graded — needs step2.experiment" in page


def test_untouched_stubs_in_japanese_fail_once_per_step(grade_local):
    graded = grade_local("--lang", "ja", submission=ROOT / "exercises", env={"CI": "true"})
    assert _blocks_per_step(graded, "期待: ") == dict.fromkeys(STEPS, 1)
    for label in ("期待: ", "実際: ", "ヒント: "):
        assert graded.output.count(label) == len(STEPS), (label, graded.output)
    assert graded.message("step2.tag") == "採点していません — 前提となる step2.experiment が不合格です"
    assert "exercises: 3/27 点" in graded.output


def test_japanese_output(grade_local):
    graded = grade_local("--lang", "ja", "-k", "step2", submission=ROOT / "exercises")
    message = graded.message("step2.experiment")
    assert [line.split(":")[0].strip() for line in message.splitlines()[1:4]] == ["期待", "実際", "ヒント"], message
    assert "ハンズオンの得点" in graded.output
    assert "expected" not in message


def test_english_output_has_no_japanese(grade_local):
    graded = grade_local("--lang", "en", "-k", "step2 or step5", submission=ROOT / "exercises")
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", graded.output), graded.output[-2000:]


def test_japanese_locale_chooses_japanese(grade_local):
    graded = grade_local("-k", "step1", submission=ROOT / "exercises", env={"LANG": "ja_JP.UTF-8"})
    assert "ハンズオンの得点" in graded.output


@pytest.mark.slow  # starts a local stack with `python -m grader stack up`, grades on it twice
def test_stack_up_then_external_twice_starts_no_new_stack(tmp_path):
    """`python -m grader stack up` in one shell, `pytest --stack external` twice in another."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    require_local_stack()
    stack_file = tmp_path / "stack.json"
    env = dict(os.environ, HANDSON_STACK_FILE=str(stack_file))
    up = subprocess.Popen([sys.executable, "-m", "grader", "stack", "up", "--backend", "local"], cwd=ROOT,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while not stack_file.exists():
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < deadline, "stack up did not become ready"
            time.sleep(0.5)
        from grader.stack.base import StackInfo

        info = StackInfo.from_json(stack_file.read_text())
        for attempt in range(2):
            graded = grade(tmp_path / f"run{attempt}", "-k", "step2 or step3", stack_file=stack_file,
                           submission=ROOT / "solutions")
            assert set(graded.statuses().values()) == {"passed"}, graded.output[-3000:]
            assert "stack = external" in graded.output
            used = json.loads((tmp_path / f"run{attempt}" / "results.json").read_text())["extra_data"]["tracking_uri"]
            assert used == info.tracking_uri
            # The same servers are still the ones serving: nothing was restarted or replaced.
            assert all(psutil.pid_exists(pid) for pid in info.pids.values())
            assert StackInfo.from_json(stack_file.read_text()) == info
    finally:
        up.send_signal(signal.SIGINT)
        out, _ = up.communicate(timeout=60)
    assert "MLflow UI: http://127.0.0.1:" in out
    assert up.returncode == 0 and "stack stopped" in out, out[-2000:]
    assert not stack_file.exists(), "stack up should remove its record when it stops"
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in info.pids.values()), "a service outlived stack up"



def test_japanese_output_shows_what_was_found(grade_local):
    """A boolean `best` tag graded in Japanese: the message shows the tags as found ('True' on one child,
    nothing on the others) in Japanese, with no Python repr of nothing."""
    graded = grade_local("--lang", "ja", "-k", "step5", submission=ROOT / "tests" / "submissions" / "faulty" /
                         "step5_best_tag_bool")
    message = graded.message("step5.best")
    assert "= 'True'" in message and "小文字の文字列" in message and "記録なし" in message, message
    assert not re.search(r"\bNone\b|\[\]|\(none\)", message), message
