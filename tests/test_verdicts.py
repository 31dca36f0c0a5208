"""Verdicts and found lines of checks, on runs made up in memory (no stack): a mistake fails the check it
is about, and the found line says what the learner did. The real-stack corpus (tests/submissions/faulty)
grades the same mistakes from scripts; these pin the wording and the edge cases cheaply."""

from __future__ import annotations

import random

import pytest

import checks.test_step4 as step4
import checks.test_step5 as step5
from grader.checking import CheckFailed, StepOutcome
from grader.i18n import set_lang
from grader.practice import get as drill
from grader.store import Run


@pytest.fixture(autouse=True)
def english():
    set_lang("en")
    yield
    set_lang("en")


def run(run_id, name, start, end, parent=None, **params):
    tags = {"mlflow.parentRunId": parent} if parent else {}
    return Run(run_id=run_id, name=name, status="FINISHED", start_time=start, end_time=end, lifecycle_stage="active",
               artifact_uri=None, tags=tags, params={k: str(v) for k, v in params.items()})


class Step:
    """What the checks read of a learner's step: its runs (the experiment is taken as found)."""

    expect_finished = StepOutcome.expect_finished

    def __init__(self, runs):
        self._runs = runs

    def experiment(self):
        return None

    def runs(self):
        return self._runs

    def runs_named(self, name):
        return [r for r in self._runs if r.name == name]

    def run_named(self, name):
        found = self.runs_named(name)
        assert len(found) == 1, name
        return found[0]


def found_line(check, step) -> str:
    with pytest.raises(CheckFailed) as failed:
        check(step)
    return failed.value.parts()[1]


# -- step 5: the sweep ------------------------------------------------------------------------------------
def sweep(names=("alpha=0.001", "alpha=0.01", "alpha=0.1"), ends=(20, 30, 40), sweep_end=50):
    kids = [run(f"c{i}", name, 10 + 10 * i, end, parent="s", alpha=alpha)
            for i, (name, end, alpha) in enumerate(zip(names, ends, step5.ALPHAS))]
    return Step([run("s", "sweep", 0, sweep_end), *kids])


def test_a_sweep_as_the_guide_writes_it_passes():
    step5.test_sweep(sweep())


def test_child_names_must_be_the_guides():
    line = found_line(step5.test_sweep, sweep(names=("alpha_0.001", "alpha_0.01", "alpha_0.1")))
    assert line == "child run names: 'alpha_0.001', 'alpha_0.01', 'alpha_0.1'"
    # each child named after its own alpha, not the names shuffled
    assert "'alpha=0.1', 'alpha=0.01'" in found_line(step5.test_sweep, sweep(names=("alpha=0.001", "alpha=0.1", "alpha=0.01")))


def test_children_that_end_after_the_sweep_fail_and_say_which_by_how_much():
    line = found_line(step5.test_sweep, sweep(ends=(20, 30, 40), sweep_end=25))
    assert line == "'alpha=0.01' ended 5 ms after 'sweep' ended"


# -- step 4: which run is whose parent ---------------------------------------------------------------------
def family(parent_of_parent=None, parents=("p", "p")):
    return Step([run("p", "ParentRun", 0, 100, parent=parent_of_parent),
                 run("c1", "ChildRun1", 10, 20, parent=parents[0]), run("c2", "ChildRun2", 30, 40, parent=parents[1])])


def test_parent_nested_under_a_child_names_its_parent():
    step = family(parent_of_parent="c1", parents=(None, "p"))
    assert found_line(step4.test_parent, step) == "it is nested under 'ChildRun1': 'ChildRun1' is the parent of 'ParentRun'"
    assert found_line(step4.test_children, step) == (
        "the other way round: 'ChildRun1' is the parent of 'ParentRun' (the `with` blocks are swapped)")


def test_a_child_under_the_other_child_names_it():
    assert found_line(step4.test_children, family(parents=("p", "c1"))) == "its parent is 'ChildRun1', not 'ParentRun'"


# -- drill resume_run: every check is about the run the task names ----------------------------------------
def test_a_new_run_with_the_given_name_fails_every_check_alike():
    module = drill("resume_run").module
    values = module.values(random.Random(1))
    given = run("a" * 32, values["run_name"], 0, 10, **{values["param"]: values["param_value"]})
    new = run("b" * 32, values["run_name"], 20, 30)
    new.metrics[values["metric"]].append((values["step"], values["value"]))
    attempt = Step([given, new])
    lines = []
    for check in module.CHECKS:
        with pytest.raises(CheckFailed) as failed:
            check.run(attempt, values)
        lines.append(failed.value.parts()[1])
    assert len(set(lines)) == 1 and f"a new run was created instead of resuming {'a' * 32}" in lines[0], lines


# -- the HTML page: where a missing artifact is -----------------------------------------------------------
def test_html_page_says_an_artifact_is_in_a_folder_not_missing():
    import types

    import checks.test_step3 as step3
    from grader import html_report
    from conftest import ROOT

    root = "1/abc/artifacts"
    objects = {f"{root}/file1.txt": b"Hello world", f"{root}/images/sample.png": b"\x89PNG"}
    store = types.SimpleNamespace(label="bucket", keys=lambda prefix: [k for k in objects if k.startswith(prefix + "/")],
                                  get=objects.get)
    sample_b = run("abc", "SampleB", 0, 10)
    sample_b.artifact_uri = "mlflow-artifacts:/1/abc/artifacts"
    outcome = types.SimpleNamespace(runs_named=lambda name: [sample_b] if name == "SampleB" else [], objects=store,
                                    data_dir=ROOT / "data")
    found = html_report._step3(outcome, step3)
    assert found["missing"]["sample.png"] == "sample.png is in folder images/, expected at the artifact root"
    assert found["missing"]["file2.json"] == "not found in the artifact store"


# -- a script that timed out -------------------------------------------------------------------------------
def test_a_timed_out_drill_script_is_told_so_with_its_output_and_no_hint():
    import types

    from grader import report
    from grader.i18n import t
    from grader.practice import grading
    from grader.runner import ScriptResult

    script = ScriptResult(script="attempt.py", exists=True, returncode=-9, timed_out=True, timeout=10.0,
                          output="resumed run 1234\n")
    chosen = drill("resume_run")
    results = [report.Result("you", c.id, "failed", "expected: x\nfound: y") for c in chosen.checks(11)]
    lines = "\n".join(grading.render(grading.Graded(chosen, 11, script, results, types.SimpleNamespace(script=script))))
    assert "was stopped after 10 s (timeout)" in lines and "| resumed run 1234" in lines, lines
    assert t("label.hint") not in lines, lines


def test_a_run_left_running_by_the_timeout_is_not_blamed_on_missing_with_blocks():
    from grader.runner import ScriptResult

    step = family()
    step.script = ScriptResult(script="step4.py", exists=True, timed_out=True, timeout=10.0)
    step._runs[0].status = "RUNNING"
    line = found_line(step4.test_parent, step)
    assert line.startswith("RUNNING: your script was stopped by the timeout") and "with" not in line, line


@pytest.mark.parametrize("fields, terminal, page", [
    (dict(returncode=1, duration=2.34), "step2.py exited with code 1 after 2.3 s", "exited with code 1 after 2.3 s"),
    (dict(returncode=-9, timed_out=True, timeout=30.0), "step2.py was stopped after 30 s (timeout)",
     "stopped after 30 s (timeout)"),
    (dict(worker_lost=True), "step2.py", "step2.py"),
])
def test_a_scripts_ending_is_told_in_one_place_for_terminal_and_page(fields, terminal, page):
    from grader.i18n import set_lang
    from grader.report import script_state
    from grader.runner import ScriptResult

    set_lang("en")
    s = ScriptResult(script="step2.py", exists=True, **fields)
    told, shown = script_state(s), script_state(s, page=True)
    assert terminal in told and page in shown, (told, shown)
    if not s.worker_lost:
        assert "step2.py" not in shown and told != shown  # the page's section already names the script
