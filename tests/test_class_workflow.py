"""The class workflow (``python -m grader classroom --class-workflow``) and ``python -m grader clone-class``.

The workflow's shell steps are run for real, four shards and the merge, in tests/test_instructor.py
(``test_class_workflow_shards_and_merge_equal_one_run``); here: its shape, actionlint, the clone of a
class from a list of repositories, an empty shard."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import IN_CI, ROOT, commit_all
from grader import class_workflow, clone

ACTIONLINT = shutil.which("actionlint") or str(Path.home() / "go" / "bin" / "actionlint")


def steps(workflow: dict, job: str) -> dict[str, dict]:
    return {s["name"]: s for s in workflow["jobs"][job]["steps"]}


def runs(text: str) -> list[str]:
    doc = yaml.safe_load(text)
    return [s["run"] for job in doc["jobs"].values() for s in job["steps"] if "run" in s]


def test_the_workflow_is_three_jobs_with_n_shards():
    doc = yaml.safe_load(class_workflow.workflow(5))
    assert list(doc["jobs"]) == ["class", "grade", "merge"]
    assert doc["jobs"]["grade"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4, 5]
    assert doc["jobs"]["grade"]["needs"] == "class" and doc["jobs"]["merge"]["needs"] == "grade"
    assert doc["jobs"]["grade"]["strategy"]["fail-fast"] is False  # one broken shard does not cancel the rest
    assert doc["permissions"] == {"contents": "read"}
    assert doc["env"]["CLASS_DIR"] == "class" and "REPOS" not in doc["env"]
    grade = steps(doc, "grade")
    # set up with the README's command; the MinIO build and pip's downloads cached
    assert grade["Set up (the README's command)"]["run"] == "bash scripts/setup.sh\n"
    assert "bash scripts/setup.sh" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert grade["Cache the MinIO build"]["with"]["path"] == "~/go/bin/minio"
    assert grade["Set up Python"]["with"]["cache"] == "pip"
    assert grade["Grade this shard"]["run"] == class_workflow.GRADE_SH
    assert grade["Grade this shard"]["env"] == {"SHARD": "${{ matrix.shard }}", "SHARDS": "${{ strategy.job-total }}"}
    merge = steps(doc, "merge")
    assert merge["Merge (refuses a learner missing or graded twice)"]["run"] == class_workflow.MERGE_SH
    assert merge["Similarity report"]["run"] == class_workflow.SIMILARITY_SH
    assert merge["Upload the class's grades"]["with"]["name"] == "class-grades"
    for job in doc["jobs"].values():  # no job leaves a token in .git/config for the learners' scripts
        assert job["steps"][0]["with"] == {"persist-credentials": False}


def test_shell_steps_read_variables_not_expressions():
    """No ``${{ }}`` inside ``run:``: the text is exactly what tests run, and nothing is spliced into it."""
    text = class_workflow.workflow(3, repos="repos.txt", roster="roster.csv", lms="moodle")
    assert all("${{" not in run for run in runs(text))
    doc = yaml.safe_load(text)
    clone_step = steps(doc, "class")["Clone every learner's repository"]
    assert clone_step["run"] == class_workflow.CLONE_SH
    assert clone_step["env"] == {"HANDSON_CLONE_TOKEN": "${{ secrets.CLASS_TOKEN }}"}
    assert doc["env"]["REPOS"] == "repos.txt" and doc["env"]["LMS"] == "moodle"
    assert steps(doc, "merge")["The moodle gradebook"]["run"] == class_workflow.LMS_SH


@pytest.mark.parametrize("args", [(), ("--shards", "7", "--class", "クラス 2026"),
                                  ("--repos", "repos.csv", "--roster", "r.csv", "--gradebook-format", "canvas")])
def test_the_workflows_pass_actionlint(tmp_path, args):
    if not Path(ACTIONLINT).is_file():
        message = "actionlint is not installed (.ci/run builds it: go install github.com/rhysd/actionlint/cmd/actionlint)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path / ".github" / "workflows" / "grade-class.yml"
    path.parent.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "grader", "classroom", "--class-workflow", *args], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    path.write_text(proc.stdout, encoding="utf-8")
    shutil.copy(ROOT / ".github" / "workflows" / "classroom.yml", path.parent)
    lint = subprocess.run([ACTIONLINT, "-color=false", *sorted(map(str, path.parent.iterdir()))], cwd=tmp_path,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    if shutil.which("shellcheck") is None and IN_CI:
        pytest.fail("shellcheck is not installed: actionlint checks run: scripts with it (scripts/setup.sh --with-browser installs it)")


def test_classroom_options_are_checked():
    proc = subprocess.run([sys.executable, "-m", "grader", "classroom", "--class-workflow", "--gradebook-format",
                           "canvas"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "--gradebook-format needs --roster" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "grader", "classroom", "--class-workflow", "--shards", "0"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "at least 1" in proc.stderr


# -- clone-class ----------------------------------------------------------------------------------------------
def git_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, content in files.items():
        (path / name).write_text(content, encoding="utf-8")
    return commit_all(path)


def clone_class(list_path: Path, dest: Path, env: dict | None = None, python: str = sys.executable):
    return subprocess.run([python, "-m", "grader", "clone-class", str(list_path), "--dest", str(dest)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_clone_class_from_a_list_of_urls(tmp_path):
    """Each URL a folder named after its repository (owner-name when two share a name); a repository that
    cannot be cloned is a folder holding CLONE-FAILED.txt, its line says why; the standard library is enough."""
    repos = tmp_path / "repos"
    git_repo(repos / "alice" / "handson", {"step1.py": "print('alice')\n"})
    git_repo(repos / "bob" / "handson", {"step1.py": "print('bob')\n"})
    git_repo(repos / "山田" / "mlflow-handson-山田", {"step2.py": "print('山田')\n"})
    listing = tmp_path / "repos.txt"
    listing.write_text("# the class of 2026\n"
                       f"file://{repos}/alice/handson\n\n{repos}/bob/handson.git  # a trailing comment\n"
                       f"{repos}/山田/mlflow-handson-山田\n{repos}/nobody/gone\n", encoding="utf-8")
    (repos / "bob" / "handson").rename(repos / "bob" / "handson.git")
    system_python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    proc = clone_class(listing, tmp_path / "class", python=system_python)
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / "class"
    assert sorted(p.name for p in dest.iterdir()) == ["alice-handson", "bob-handson", "gone", "mlflow-handson-山田"]
    assert (dest / "alice-handson" / "step1.py").read_text() == "print('alice')\n"
    assert (dest / "mlflow-handson-山田" / "step2.py").is_file()
    assert [p.name for p in (dest / "gone").iterdir()] == [class_workflow.CLONE_FAILED]
    url, reason = (dest / "gone" / class_workflow.CLONE_FAILED).read_text().split("\n", 1)
    assert url == f"{repos}/nobody/gone" and reason.strip(), reason
    assert f"FAILED  gone  {repos}/nobody/gone: " in proc.stdout
    assert "cloned  alice-handson" in proc.stdout
    assert "3 cloned, 1 failed" in proc.stderr


def test_clone_class_from_a_classroom_csv(tmp_path):
    """GitHub Classroom's export (roster_identifier, github_username, student_repository_url) or folder,url."""
    repos = tmp_path / "repos"
    git_repo(repos / "a1", {"step1.py": "1\n"})
    git_repo(repos / "a2", {"step1.py": "2\n"})
    listing = tmp_path / "grades.csv"
    listing.write_text("assignment_name,roster_identifier,github_username,student_repository_url,points_awarded\n"
                       f"handson,佐藤 花子,hanako,{repos}/a1,0\nhandson,,taro,{repos}/a2,0\n"
                       f"handson,.hidden/../x,eve,{repos}/a1,0\n", encoding="utf-8")
    proc = clone_class(listing, tmp_path / "class")
    assert proc.returncode == 0, proc.stderr
    # a folder name cannot hide the learner (a leading dot) or climb out of the class (a separator)
    assert sorted(p.name for p in (tmp_path / "class").iterdir()) == ["-hidden-..-x", "taro", "佐藤 花子"]
    from grader.session import class_learners

    assert len(class_learners(tmp_path / "class")) == 3


def test_clone_class_refuses_an_unreadable_or_empty_list(tmp_path):
    proc = clone_class(tmp_path / "none.txt", tmp_path / "class")
    assert proc.returncode == 2 and "cannot read the repository list" in proc.stderr
    (tmp_path / "empty.txt").write_text("# nobody yet\n")
    proc = clone_class(tmp_path / "empty.txt", tmp_path / "class")
    assert proc.returncode == 2 and "names no repository" in proc.stderr


def test_the_clone_token_goes_to_github_only_and_is_never_shown():
    token = "ghp_secret123"
    header = clone._token_args("https://github.com/org/repo", token)
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert header == ["-c", f"http.https://github.com/.extraheader=AUTHORIZATION: basic {basic}"]
    assert clone._token_args("https://example.org/org/repo", token) == []
    assert clone._token_args("https://github.com/org/repo", "") == []
    said = clone.redact(f"fatal: could not read from {token} with header {basic}", token)
    assert token not in said and basic not in said and said.count("***") == 2
    assert "HANDSON_CLONE_TOKEN" not in clone._git_env()


@pytest.mark.slow  # two runs of the grader in a subprocess (about 6 s)
def test_an_empty_shard_writes_empty_reports(tmp_path):
    """More shards than learners: the last shard grades no one, starts nothing and exits 0 with empty reports
    the merge takes."""
    klass = tmp_path / "class"
    for name in ("a", "b"):
        shutil.copytree(ROOT / "exercises", klass / name)
    out = tmp_path / "s3"
    proc = subprocess.run([sys.executable, "-m", "pytest", "checks", f"--submissions={klass}", "--shard=3/3",
                           "--gradebook", str(out / "grades.csv"), "--junitxml", str(out / "junit.xml"),
                           "--html-report", str(out / "html")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HANDSON_STACK_FILE": str(tmp_path / "no-stack.json")}, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "shard 3/3 holds no learner of the class" in proc.stdout
    assert (out / "grades.csv").read_text().count("\n") == 1  # the header
    assert 'tests="0"' in (out / "junit.xml").read_text()
    assert (out / "html" / "index.html").is_file()
    # A class with no learner at all is still an error.
    (tmp_path / "nobody").mkdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", "checks", f"--submissions={tmp_path / 'nobody'}",
                           "--shard=1/2"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HANDSON_STACK_FILE": str(tmp_path / "no-stack.json")})
    assert proc.returncode == 4 and "no learner folders in it" in proc.stdout + proc.stderr
