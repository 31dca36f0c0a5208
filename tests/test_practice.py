"""Practice drills: every drill's reference solution passes for several seeds, its untouched stub fails every
check with a hint, a solution made for one seed fails under another, and each faulty variant fails exactly
its check — graded on the session's real stack (MariaDB + MinIO + MLflow), the scripts run as a step's are.
The command line (`python -m grader practice …`) is exercised as a learner and an instructor use it."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader.i18n import set_lang, t
from grader.practice import all_drills, grading
from conftest import ROOT
from test_i18n import JAPANESE

DRILLS = all_drills()
SEEDS = (11, 20261)
# Scripts graded at once: they mostly wait on the MLflow server, not on the CPU.
PARALLEL = 4


def test_there_are_at_least_ten_drills_each_with_checks_and_two_faults():
    assert len(DRILLS) >= 10, sorted(DRILLS)
    for drill in DRILLS.values():
        names = [c.name for c in drill.checks()]
        assert len(names) >= 2 and len(set(names)) == len(names), drill.id
        faulted = [fault[0] for fault in drill.module.FAULTS]
        assert len(faulted) == 2 and set(faulted) <= set(names), drill.id
        assert set().union(*drill.fault_checks().values()) <= set(names), drill.id


@pytest.mark.parametrize("drill_id", sorted(DRILLS))
def test_values_come_from_the_seed(drill_id):
    drill = DRILLS[drill_id]
    assert drill.values(SEEDS[0]) == drill.values(SEEDS[0])
    assert drill.values(SEEDS[0]) != drill.values(SEEDS[1])
    assert drill.task(SEEDS[0], "en") != drill.task(SEEDS[1], "en")
    assert drill.solution(SEEDS[0]) != drill.solution(SEEDS[1])


# -- texts: English and Japanese --------------------------------------------------------------------------------
def _texts(drill):
    yield "title", drill.module.TITLE
    yield "task", drill.module.TASK
    for check in drill.module.CHECKS:
        yield f"{check.name}.title", check.title_text
        yield f"{check.name}.hint", check.hint_text


@pytest.mark.parametrize("drill_id", sorted(DRILLS))
def test_drill_texts_have_both_languages_with_the_same_values(drill_id):
    drill = DRILLS[drill_id]
    values = drill.values(SEEDS[0])
    for name, entry in _texts(drill):
        assert set(entry) == {"en", "ja"}, (drill_id, name)
        en, ja = (set(re.findall(r"\$(\w+)", entry[lang])) for lang in ("en", "ja"))
        assert en == ja, (drill_id, name, en ^ ja)
        assert en <= set(values), (drill_id, name, en - set(values))
        assert not JAPANESE.search(entry["en"]), (drill_id, name)
        assert JAPANESE.search(entry["ja"]), (drill_id, name)
    for lang in ("en", "ja"):
        set_lang(lang)
        try:
            for check in drill.checks(SEEDS[0]):
                for text in (check.title(), check.hint()):
                    assert "$" not in text and "None" not in text, (drill_id, text)
            assert "$" not in drill.task(SEEDS[0])
        finally:
            set_lang("en")


# -- grading on the real stack ----------------------------------------------------------------------------------
def _cases():
    """(drill, case, recorded seed, script): what the learner's folder would hold."""
    for drill in DRILLS.values():
        for seed in SEEDS:
            yield drill, f"solution-{seed}", seed, drill.solution(seed)
        yield drill, "stub", SEEDS[0], drill.stub(SEEDS[0])
        yield drill, "other-seed", SEEDS[1], drill.solution(SEEDS[0])
        for check, script in drill.faults(SEEDS[0]):
            yield drill, f"fault-{check}", SEEDS[0], script


@pytest.fixture(scope="module")
def graded(local_stack, tmp_path_factory):
    """Every case graded once, several at a time: (drill id, case) -> Graded."""
    base = tmp_path_factory.mktemp("practice")

    def run(case):
        drill, name, seed, script = case
        dest = base / f"{drill.id}-{name}"
        grading.write_attempt(drill, seed, dest, script, keep_script=False)
        return (drill.id, name), grading.grade(dest, local_stack, ROOT / "data", timeout=180)

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return dict(pool.map(run, list(_cases())))


def _statuses(result) -> dict:
    return {r.check.split(".", 1)[1]: r.status for r in result.results}


def _explain(result) -> str:
    return "\n".join(grading.render(result)) + "\n--- script output ---\n" + result.script.output[-3000:]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("drill_id", sorted(DRILLS))
def test_reference_solution_passes(graded, drill_id, seed):
    result = graded[drill_id, f"solution-{seed}"]
    assert result.script.ok and result.passed, _explain(result)


@pytest.mark.parametrize("drill_id", sorted(DRILLS))
def test_untouched_stub_runs_and_fails_every_check_with_a_hint(graded, drill_id):
    result = graded[drill_id, "stub"]
    assert result.script.ok, _explain(result)  # a stub is runnable
    assert set(_statuses(result).values()) == {"failed"}, _explain(result)
    lines = grading.render(result)
    assert sum(t("label.hint") in line for line in lines) == len(result.results), lines
    assert all(r.message for r in result.results)


@pytest.mark.parametrize("drill_id", sorted(DRILLS))
def test_a_solution_for_another_seed_fails(graded, drill_id):
    result = graded[drill_id, "other-seed"]
    assert result.script.ok, _explain(result)
    assert "failed" in _statuses(result).values() and "error" not in _statuses(result).values(), _explain(result)


@pytest.mark.parametrize("drill_id", sorted(DRILLS))
def test_each_faulty_variant_fails_exactly_its_check(graded, drill_id):
    for check, failing in DRILLS[drill_id].fault_checks().items():
        result = graded[drill_id, f"fault-{check}"]
        statuses = _statuses(result)
        assert {name for name, s in statuses.items() if s != "passed"} == failing, (check, _explain(result))
        assert all(statuses[name] == "failed" for name in failing), _explain(result)


def test_a_new_run_instead_of_the_resumed_one_fails_every_check_with_one_message(graded):
    """A run that merely has the task's name is not the run the task names: both checks say so, alike."""
    result = graded["resume_run", "fault-resumed"]
    messages = {r.check: r.message for r in result.results}
    told = {check: re.findall(r"a new run was created instead of resuming ([0-9a-f]{32})", message)
            for check, message in messages.items()}
    assert all(len(ids) == 1 for ids in told.values()) and len({ids[0] for ids in told.values()}) == 1, messages


# -- the command line -------------------------------------------------------------------------------------------
def cli(*args, stack_file: Path | None = None, lang: str = "en", timeout: float = 600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_")}
    env.update(LANG="C.UTF-8", HANDSON_LANG=lang, HANDSON_STACK_FILE=str(stack_file or "/nonexistent/stack.json"))
    return subprocess.run([sys.executable, "-m", "grader", "practice", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_list_prints_one_drill_per_line_id_first():
    for lang in ("en", "ja"):
        proc = cli("list", lang=lang)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert [line.split("\t")[0] for line in lines] == sorted(DRILLS)
        assert all(line.split("\t")[1] == DRILLS[line.split("\t")[0]].module.TITLE[lang] for line in lines)


def test_new_without_seed_records_a_random_seed_and_keeps_the_learners_script(tmp_path):
    seeds = []
    for n in range(2):
        dest = tmp_path / f"a{n}"
        proc = cli("new", "table", "--dir", str(dest))
        assert proc.returncode == 0, proc.stderr
        state = json.loads((dest / ".practice.json").read_text())
        assert state["drill"] == "table" and isinstance(state["seed"], int)
        seeds.append(state["seed"])
        assert f"seed {state['seed']}" in (dest / "TASK.md").read_text()
        assert (dest / "table.py").read_text() == DRILLS["table"].stub(state["seed"])
    assert seeds[0] != seeds[1]
    # A second `new` in the same folder records the new seed but never overwrites the learner's work.
    dest = tmp_path / "a0"
    (dest / "table.py").write_text("# my work\n")
    proc = cli("new", "table", "--seed", "5", "--dir", str(dest), lang="ja")
    assert proc.returncode == 0 and "変更していません" in proc.stdout, proc.stdout
    assert (dest / "table.py").read_text() == "# my work\n"
    assert json.loads((dest / ".practice.json").read_text())["seed"] == 5
    assert JAPANESE.search((dest / "TASK.md").read_text())


def test_solve_help_says_the_seed_is_required():
    for lang, says in (("en", "required"), ("ja", "必須")):
        proc = cli("solve", "--help", lang=lang)
        seed = [line for line in proc.stdout.splitlines() if line.strip().startswith("--seed")]
        assert proc.returncode == 0 and seed and says in proc.stdout.split("--seed SEED", 2)[-1], proc.stdout
        assert "random" not in proc.stdout and "ランダム" not in proc.stdout, proc.stdout


def test_bad_input_gets_a_clear_message(tmp_path):
    proc = cli("new", "no_such_drill", "--dir", str(tmp_path / "x"))
    assert proc.returncode == 2 and "no_such_drill" in proc.stderr and "search_tag" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = cli("grade", str(tmp_path), "--stack", "external")
    assert proc.returncode == 2 and "practice new" in proc.stderr and "Traceback" not in proc.stderr


def test_new_solve_grade_on_the_sessions_stack(tmp_path, local_stack_file):
    """As the acceptance does: new + solve + grade passes; the stub fails with hints (in Japanese here);
    the results.json is Gradescope's."""
    dest, stub = tmp_path / "solved", tmp_path / "stub"
    assert cli("new", "descriptions", "--seed", "314", "--dir", str(dest)).returncode == 0
    assert cli("solve", "descriptions", "--seed", "314", "--dir", str(dest)).returncode == 0
    assert (dest / "descriptions.py").read_text() == DRILLS["descriptions"].solution(314)
    proc = cli("grade", str(dest), "--stack", "external", "--grade-json", str(tmp_path / "results.json"),
               stack_file=local_stack_file)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("✔") == 2 and "✘" not in proc.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == results["max_score"] == 2
    assert [test["name"].split()[0] for test in results["tests"]] == ["descriptions.experiment_note",
                                                                      "descriptions.run_note"]
    assert cli("new", "descriptions", "--seed", "314", "--dir", str(stub), lang="ja").returncode == 0
    proc = cli("grade", str(stub), "--stack", "external", stack_file=local_stack_file, lang="ja")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("✘") == 2 and proc.stdout.count("ヒント: ") == 2, proc.stdout
    assert "期待: " in proc.stdout and "実際: " in proc.stdout and "None" not in proc.stdout


@pytest.mark.slow  # exports the release, then runs the grader in it three times (about 3 s)
def test_export_leaves_the_drills_solutions_out(tmp_path):
    out = tmp_path / "release"
    subprocess.run([sys.executable, "-m", "grader", "export", str(out)], cwd=ROOT, check=True, capture_output=True,
                   env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    modules = sorted((out / "grader" / "practice" / "drills").glob("*.py"))
    assert len(modules) == len(DRILLS) + 1  # and __init__.py
    for drill in DRILLS.values():
        text = (out / "grader" / "practice" / "drills" / f"{drill.id}.py").read_text()
        assert "SOLUTION" not in text and "FAULTS" not in text, drill.id
        # the solution's own lines (those the stub does not share) are gone
        own = [line for line in drill.module.SOLUTION.splitlines() if line.strip() and line not in drill.module.STUB]
        assert own and not [line for line in own if line in text.splitlines()], drill.id
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(out), "HANDSON_LANG": "en"}
    listed = subprocess.run([sys.executable, "-m", "grader", "practice", "list"], cwd=out, env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == len(DRILLS), listed.stderr
    new = subprocess.run([sys.executable, "-m", "grader", "practice", "new", "images", "--seed", "3", "--dir",
                          str(tmp_path / "try")], cwd=out, env=env, capture_output=True, text=True)
    assert new.returncode == 0 and (tmp_path / "try" / "images.py").exists(), new.stderr
    solve = subprocess.run([sys.executable, "-m", "grader", "practice", "solve", "images", "--seed", "3", "--dir",
                            str(tmp_path / "try")], cwd=out, env=env, capture_output=True, text=True)
    assert solve.returncode == 2 and "no reference solution" in solve.stderr and "Traceback" not in solve.stderr
