"""Instructor features: a class graded in one run, in parallel, in shards; reports that agree;
the Classroom workflow; the learner release."""

import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, SCRIPT_TIMEOUT, commit_all, grade
from grader import catalog, class_workflow, classroom, report

MISTAKES = {
    # learner folder -> (script, text replaced, replacement): typical slips, each costing one check
    "c_tag_case": ("step2.py", '"tagA", "hoge"', '"tagA", "Hoge"'),
    "d_dense": ("step2.py", '"Dence", 128', '"Dense", 128'),
    "e_text": ("step3.py", '"Hello world"', '"Hello World"'),
    "f_no_best_tag": ("step5.py", 'MlflowClient().set_tag(best_run_id, "best", "true")', "pass"),
}


def make_class(dest):
    """Seven learners: two correct, one untouched, four with one mistake each."""
    for name in ("a_good", "b_good"):
        shutil.copytree(ROOT / "solutions", dest / name)
    shutil.copytree(ROOT / "exercises", dest / "g_untouched")
    for name, (script, old, new) in MISTAKES.items():
        shutil.copytree(ROOT / "solutions", dest / name)
        text = (dest / name / script).read_text()
        assert old in text, f"{name}: the solution changed; update the mistake"
        (dest / name / script).write_text(text.replace(old, new))
    return dest


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    return make_class(tmp_path_factory.mktemp("class"))


# Parallel and sharded grading are checked on part of the class (one correct, one mistake, one untouched):
# enough to tell a wrong split or merge, at less than half the cost of grading all seven again (CI time).
SMALL_CLASS = ("a_good", "c_tag_case", "g_untouched", "f_no_best_tag")


@pytest.fixture(scope="module")
def small_klass(klass, tmp_path_factory):
    dest = tmp_path_factory.mktemp("small-class")
    for name in SMALL_CLASS:
        shutil.copytree(klass / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def serial(klass, local_stack_file, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serial")
    graded = grade(tmp, "--gradebook", str(tmp / "gradebook.csv"), "--junitxml", str(tmp / "junit.xml"),
                   stack_file=local_stack_file, submissions=klass)
    return graded, tmp


def verdicts(graded):
    return {learner: {c: e["status"] for c, e in checks.items()} for learner, checks in graded.results.items()}


def test_batch_grades_every_learner_exactly(serial):
    graded, _ = serial
    v = verdicts(graded)
    assert sorted(v) == ["a_good", "b_good", "c_tag_case", "d_dense", "e_text", "f_no_best_tag", "g_untouched"]
    every = {c.id for c in catalog.CHECKS}
    assert {c for c, s in v["a_good"].items() if s == "passed"} == every, graded.output[-3000:]
    assert v["b_good"] == v["a_good"]
    expected_failures = {"c_tag_case": {"step2.tag"}, "d_dense": {"step2.param"}, "e_text": {"step3.text"},
                         "f_no_best_tag": {"step5.best"}}
    for learner, failing in expected_failures.items():
        assert {c for c, s in v[learner].items() if s != "passed"} == failing, (learner, graded.output[-3000:])
    # the untouched stubs fail once per step, at its root; what needs a root is not graded
    roots = {c.id for c in catalog.CHECKS if c.kind == "learner" and not c.needs}
    dependents = {c.id for c in catalog.CHECKS if c.kind == "learner" and c.needs}
    assert {c for c, s in v["g_untouched"].items() if s == "failed"} == roots
    assert {c for c, s in v["g_untouched"].items() if s == "not_graded"} == dependents
    assert "graded g_untouched" in graded.output and "(7/7 learners done)" in graded.output


def test_parallel_gives_the_same_verdicts_with_one_stack(serial, small_klass, tmp_path):
    """-n 2: two workers share one stack (the controller starts it) and agree with the serial run."""
    graded_serial, _ = serial
    graded = grade(tmp_path, "-n", "2", "--stack", "local", submissions=small_klass)
    expected = {learner: v for learner, v in verdicts(graded_serial).items() if learner in SMALL_CLASS}
    assert verdicts(graded) == expected, graded.output[-3000:]
    uris = {json.loads((tmp_path / "grades" / learner / "results.json").read_text())["extra_data"]["tracking_uri"]
            for learner in graded.results}
    assert len(uris) == 1 and None not in uris, uris
    assert graded.output.count("stack = local") == 1


def checkout(dest):
    """What actions/checkout gives a job: the grader's files (tracked or new, as this working tree has them),
    with this machine's .venv in place of the job's own set-up."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


@pytest.mark.realstack
def test_class_workflow_shards_and_merge_equal_one_run(serial, klass, local_stack_file, tmp_path):
    """The class workflow's own shell steps, run here as its jobs run them: the class cloned from a list of
    repositories (one cannot be cloned), packed and unpacked, graded in four shards (two at a time, as parallel
    jobs would, on one stack), merged, with a Canvas gradebook and the similarity report. What the merge writes
    is what one unsharded run wrote (the serial run's rows, verdicts and JUnit cases for these learners)."""
    graded_serial, serial_dir = serial
    repos = tmp_path / "repos"
    for name in SMALL_CLASS:
        commit_all(shutil.copytree(klass / name, repos / name))
    work = checkout(tmp_path / "checkout")
    (work / "class-repos.txt").write_text("".join(f"{repos / n}\n" for n in (*SMALL_CLASS, "h_gone")), encoding="utf-8")
    (work / "roster.csv").write_text("folder,Student,ID,SIS User ID,SIS Login ID,Section\n" + "".join(
        f"{n},{n.title()},{i},S{i},{n}@uni,A\n" for i, n in enumerate((*SMALL_CLASS, "h_gone"), 1)), encoding="utf-8")
    doc = yaml.safe_load(class_workflow.workflow(4, repos="class-repos.txt", roster="roster.csv", lms="canvas",
                                                 submission_timeout=SCRIPT_TIMEOUT))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}
    base_env |= {**{k: str(v) for k, v in doc["env"].items()}, "HANDSON_STACK_FILE": str(local_stack_file)}

    def step(job, name, **env):
        script = next(s for s in doc["jobs"][job]["steps"] if s["name"] == name)["run"]
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=work, env={**base_env, **env},
                              capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, f"{job} / {name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout + proc.stderr

    cloned = step("class", "Clone every learner's repository", HANDSON_CLONE_TOKEN="")
    assert "4 cloned, 1 failed" in cloned, cloned
    step("class", "Pack the class")
    shutil.rmtree(work / "class")  # each job unpacks the class artifact into its own checkout
    step("grade", "Unpack the class")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(lambda i: step("grade", "Grade this shard", SHARD=str(i), SHARDS="4"), (1, 2, 3, 4)))
    shards = work / "shards"
    per_shard = [{r["learner"] for r in report.read_gradebook(shards / f"shard-{i}" / "grades.csv")} for i in (1, 2, 3, 4)]
    assert all(len(learners) >= 1 for learners in per_shard), (per_shard, outputs)
    merged_output = step("merge", "Merge (refuses a learner missing or graded twice)")
    step("merge", "The canvas gradebook")
    similar = step("merge", "Similarity report")
    grades = work / "grades"

    # the gradebook: the serial run's rows for these learners, plus the one that could not be cloned
    header, *rows = (serial_dir / "gradebook.csv").read_text().splitlines(keepends=True)
    merged_header, *merged_rows = (grades / "grades.csv").read_text().splitlines(keepends=True)
    assert merged_header == header, merged_output
    assert [r for r in merged_rows if not r.startswith("h_gone,")] == [r for r in rows if r.split(",", 1)[0] in SMALL_CLASS]
    # results and JUnit: the same verdict for every check of these learners
    merged_results = report.read_results_dir(grades / "results")
    assert sorted(merged_results) == sorted((*SMALL_CLASS, "h_gone"))
    merged_verdicts = {lr: {t["extra_data"]["check"]: t["extra_data"]["status"] for t in data["tests"]}
                       for lr, data in merged_results.items()}
    assert {lr: v for lr, v in merged_verdicts.items() if lr != "h_gone"} == \
        {lr: v for lr, v in verdicts(graded_serial).items() if lr in SMALL_CLASS}
    assert junit_failures(grades / "junit.xml", SMALL_CLASS) == junit_failures(serial_dir / "junit.xml", SMALL_CLASS)
    # the learner whose repository could not be cloned: a row, each root check saying why
    gone = {t["extra_data"]["check"]: t for t in merged_results["h_gone"]["tests"]}
    roots = [c.id for c in catalog.CHECKS if c.kind == "learner" and not c.needs]
    for check in roots:
        assert gone[check]["extra_data"]["status"] == "failed", gone[check]
        assert "could not be cloned" in gone[check]["output"] and "h_gone" in gone[check]["output"], gone[check]
    # the overview: every learner, linking to its page
    index = (grades / "html" / "index.html").read_text(encoding="utf-8")
    for learner in (*SMALL_CLASS, "h_gone"):
        assert f'href="{learner}.html"' in index and (grades / "html" / f"{learner}.html").is_file()
    assert "4 shards merged" in index
    # Canvas: one row per learner with the gradebook's total; the similarity report: nothing flagged
    canvas = {r["SIS Login ID"]: r["MLflow hands-on"] for r in report.read_gradebook(grades / "canvas.csv")
              if r["Student"].strip() != "Points Possible"}
    totals = {r["learner"]: r["total"] for r in report.read_gradebook(grades / "grades.csv")}
    assert {login.split("@")[0]: float(points) for login, points in canvas.items()} == \
        {lr: float(total) for lr, total in totals.items()}
    assert (grades / "similarity.csv").is_file() and (grades / "html" / "similarity.html").is_file()
    assert ", 0 flagged at threshold" in similar, similar


def junit_failures(path, learners):
    import xml.etree.ElementTree as ET

    failing = set()
    for case in ET.parse(path).getroot().iter("testcase"):
        learner = case.get("name").rsplit("[", 1)[1].rstrip("]")
        if learner in learners and (case.find("failure") is not None or case.find("error") is not None):
            failing.add((learner, case.get("classname"), case.get("name")))
    return failing


def test_gradebook_results_json_and_classroom_agree(serial):
    graded, tmp = serial
    rows = {r["learner"]: r for r in report.read_gradebook(tmp / "gradebook.csv")}
    assert set(rows) == set(graded.results)
    workflow = yaml.safe_load((ROOT / classroom.WORKFLOW).read_text())
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    classroom_points = {s["with"]["test-name"]: float(s["with"]["max-score"]) for s in steps
                        if s.get("uses", "").startswith("classroom-resources/autograding-command-grader")}
    assert classroom_points == {c.id: c.points for c in catalog.CHECKS if not c.hidden}
    for learner in graded.results:
        results_json = tmp / "grades" / learner / "results.json"
        data = json.loads(results_json.read_text())
        classroom_score = sum(points for check, points in classroom_points.items()
                              if classroom.verdict(results_json, check) == 0)
        assert float(rows[learner]["total"]) == data["score"] == classroom_score, learner
        assert float(rows[learner]["max"]) == data["max_score"] == sum(classroom_points.values())
        per_step = {}
        for test in data["tests"]:
            step = test["extra_data"]["check"].split(".")[0]
            per_step[step] = per_step.get(step, 0) + test["score"]
        assert {s: float(rows[learner][s]) for s in per_step} == per_step


def test_junit_xml_agrees_with_the_other_reports(serial):
    import xml.etree.ElementTree as ET

    graded, tmp = serial
    cases = ET.parse(tmp / "junit.xml").getroot().iter("testcase")
    failing_junit, skipped_junit = set(), set()
    total = 0
    for case in cases:
        total += 1
        learner = case.get("name").rsplit("[", 1)[1].rstrip("]")
        key = (learner, case.get("classname"), case.get("name").split("[")[0])
        if case.find("failure") is not None or case.find("error") is not None:
            failing_junit.add(key)
        if case.find("skipped") is not None:  # not graded: a check it needs failed
            skipped_junit.add(key)
    statuses = [entry["status"] for checks in graded.results.values() for entry in checks.values()]
    assert total == len(statuses)
    assert len(failing_junit) == sum(1 for s in statuses if s in ("failed", "error")) > 0
    assert len(skipped_junit) == statuses.count("not_graded") > 0


def test_committed_classroom_workflow_is_generated_from_the_catalogue():
    assert (ROOT / classroom.WORKFLOW).read_text() == classroom.workflow()


def test_verdict_command(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"tests": [
        {"status": "passed", "extra_data": {"check": "step2.tag"}},
        {"status": "failed", "output": "expected tag", "extra_data": {"check": "step2.run"}}]}))
    assert classroom.verdict(path, "step2.tag") == 0
    assert classroom.verdict(path, "step2.run") == 1
    assert classroom.verdict(path, "step3.run") == 1
    assert classroom.verdict(tmp_path / "missing.json", "step2.tag") == 2


# Words of the instructor side that the learner README must not carry.
INSTRUCTOR_WORDS = ("pytest tests", "solutions/", "bench/", ".ci/", "gradebook", "--submissions", "shard",
                    "hidden", "classroom")


def readme_commands(text: str) -> list[list[str]]:
    """Every command of the README's ```bash blocks, comments dropped, `a && b` split into two."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands += [shlex.split(part) for part in line.split("&&")]
    return commands


def test_export_leaves_out_solutions_and_hidden_checks(tmp_path, local_stack_file):
    """Mark step5.model_files hidden in a copy of the repo; its export has neither it nor solutions, and the
    commands of its learner README work inside it."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    for rel in ("grader", "checks", "exercises", "data", "docs", "scripts", "conftest.py", "pytest.ini",
                "pyproject.toml"):
        src = ROOT / rel
        if src.is_dir():
            shutil.rmtree(repo / rel)
            shutil.copytree(src, repo / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, repo / rel)
    cat = repo / "grader" / "catalog.py"
    source = cat.read_text()
    assert source.count('Check("step5.model_files"') == 1, "the catalogue's model_files entry moved"
    cat.write_text(source.replace('Check("step5.model_files"', 'Check("step5.model_files", hidden=True'))
    out = tmp_path / "release"
    subprocess.run([sys.executable, "-m", "grader", "export", str(out)], cwd=repo, check=True,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(repo)})
    assert not (out / "solutions").exists() and not (out / "tests").exists() and not (out / "bench").exists()
    assert not (out / ".ci").exists() and not (out / "grader" / "templates").exists()
    assert (out / "exercises" / "step1.py").exists() and (out / "README.md").exists()
    # Code and workflow only: the prose docs may name every check id.
    leaked = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".py", ".yml", ".ini", ".toml")
              and "model_files" in p.read_text(errors="ignore")]
    assert not leaked, leaked
    assert "step5.model_files" not in (out / classroom.WORKFLOW).read_text()

    # The release's README is the learner README: no instructor matters, the visible checks only.
    readme = (out / "README.md").read_text()
    assert readme != (ROOT / "README.md").read_text()
    assert [w for w in INSTRUCTOR_WORDS if w in readme.lower()] == []
    assert "model_files" not in readme and "<!-- export" not in readme
    assert "`step5.registered`" in readme and "26 checks" in readme
    assert "docs/handson.ja.md" in readme
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        assert link.startswith("http") or (out / link).exists(), link

    # Its commands work in the release: every path they name is there (.venv is what setup creates), setup
    # runs, `python -m grader …` knows the subcommand, and each pytest command grades the release's exercises.
    commands = readme_commands(readme)
    assert ["bash", "scripts/setup.sh"] in commands and [".venv/bin/python", "-m", "pytest"] in commands, commands
    assert '"$ROOT/.venv"' in (out / "scripts" / "setup.sh").read_text()
    graded_runs = []
    for cmd in commands:
        for word in cmd:
            if "/" in word and not word.startswith(("-", "http")) and not word.startswith(".venv/"):
                assert (out / word).exists(), (cmd, word)
        if cmd[0] == "bash":
            help_run = subprocess.run(["bash", cmd[1], "--help"], cwd=out, capture_output=True, text=True,
                                      timeout=60)
            assert help_run.returncode == 0 and "--no-stack" in help_run.stdout, help_run
            continue
        assert cmd[:2] == [".venv/bin/python", "-m"] and cmd[2] in ("pytest", "grader"), cmd
        if cmd[2] == "grader":
            help_run = subprocess.run([sys.executable, *cmd[1:], "--help"], cwd=out, capture_output=True, text=True,
                                      env={**os.environ, "PYTHONPATH": str(out)}, timeout=120)
            assert help_run.returncode == 0, help_run
        else:
            graded_runs.append((cmd[3:], grade_in(out, tmp_path, local_stack_file, *cmd[3:])))
    assert graded_runs
    for args, graded in graded_runs:
        names = [t["extra_data"]["check"] for t in graded["tests"]]
        if not args:  # all five steps, the hidden check gone
            assert graded["max_score"] == catalog.max_points() - 1, graded
            assert "step5.model_files" not in names and len(names) == 26
        elif args[:1] == ["-k"]:
            assert names and all(n.startswith(args[1] + ".") for n in names), (args, names)


def grade_in(repo, tmp_path, stack_file, *args):
    out = tmp_path / f"release-results-{len(list(tmp_path.glob('release-results-*')))}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_")}
    env.update(HANDSON_STACK_FILE=str(stack_file), PYTHONPATH=str(repo))
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "--stack", "external",
                           "--grade-json", str(out)], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())
