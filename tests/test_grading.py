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


def test_solutions_pass_every_check_on_embedded(tmp_path):
    graded = grade(tmp_path, "--stack", "embedded", submission=ROOT / "solutions")
    assert graded.statuses() == {c: "passed" for c in ALL_CHECKS}, graded.output[-3000:]
    assert "stack = embedded" in graded.output


def test_untouched_stubs_fail_every_learner_check(grade_local):
    graded = grade_local(submission=ROOT / "exercises")
    statuses = graded.statuses()
    assert {c: statuses[c] for c in LEARNER_CHECKS} == {c: "failed" for c in LEARNER_CHECKS}, graded.output[-3000:]
    for check in LEARNER_CHECKS:
        message = graded.message(check)
        labels = [line.split(":")[0].strip() for line in message.splitlines()[1:4]]
        assert labels == ["expected", "found", "hint"], f"{check}: {message}"
    assert not GRADER_TRACEBACK.search(graded.output), graded.output
    assert "Traceback" not in graded.output
    assert graded.returncode == 1


def test_japanese_output(grade_local):
    graded = grade_local("--lang", "ja", "-k", "step2", submission=ROOT / "exercises")
    message = graded.message("step2.tag")
    assert [line.split(":")[0].strip() for line in message.splitlines()[1:4]] == ["期待", "実際", "ヒント"], message
    assert "ハンズオンの得点" in graded.output
    assert "expected" not in message


def test_english_output_has_no_japanese(grade_local):
    graded = grade_local("--lang", "en", "-k", "step2 or step5", submission=ROOT / "exercises")
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", graded.output), graded.output[-2000:]


def test_japanese_locale_chooses_japanese(grade_local):
    graded = grade_local("-k", "step1", submission=ROOT / "exercises", env={"LANG": "ja_JP.UTF-8"})
    assert "ハンズオンの得点" in graded.output


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
    assert not stack_file.exists(), "stack up should remove its record when it stops"



def test_japanese_output_shows_what_was_found(grade_local):
    """A boolean `best` tag graded in Japanese: the message shows the tags as found ('True' on one child,
    nothing on the others) in Japanese, with no Python repr of nothing."""
    graded = grade_local("--lang", "ja", "-k", "step5", submission=ROOT / "tests" / "submissions" / "faulty" /
                         "step5_best_tag_bool")
    message = graded.message("step5.best")
    assert "= 'True'" in message and "小文字の文字列" in message and "記録なし" in message, message
    assert not re.search(r"\bNone\b|\[\]|\(none\)", message), message
