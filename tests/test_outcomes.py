"""grader/outcomes.py: every kind of exception a check can raise gets the verdict of what it says, by type,
and a failure whose root is a needed check that failed is "not graded" (no stack needed)."""

import io
import urllib.error
from pathlib import Path

import pytest

from grader import catalog, outcomes
from grader.checking import CheckFailed, Tampered
from grader.i18n import set_lang
from grader.stack.base import StackError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def english():
    set_lang("en")


def http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://127.0.0.1:5000/get-artifact", code, "answer", {}, io.BytesIO(b""))


def test_check_failed_is_failed_with_its_expected_and_found():
    verdict = outcomes.judge(CheckFailed("bucket.missing", store="MinIO"), "step1.artifact_bucket")
    assert verdict.status == outcomes.FAILED
    assert verdict.message.splitlines()[0].startswith("expected: ")
    assert verdict.message.splitlines()[1].startswith("found: ")


def test_a_plain_assert_in_a_check_is_a_failed_check_not_an_internal_error():
    verdict = outcomes.judge(AssertionError("assert 'Hoge' == 'hoge'"), "step2.tag")
    assert (verdict.status, verdict.internal) == (outcomes.FAILED, False)
    assert "found:    it does not: assert 'Hoge' == 'hoge'" in verdict.message
    # rendered by the plugin like any failed check: through its expected/found/hint renderer
    rendered = outcomes.judge(AssertionError(), "step2.tag", failure=lambda failed: f"[{failed.key}]")
    assert rendered.message == "[outcome.assert_failed]"


def test_pytest_fail_in_a_check_is_a_failed_check():
    with pytest.raises(pytest.fail.Exception) as info:
        pytest.fail("no such run", pytrace=False)
    assert outcomes.judge(info.value, "step2.run").status == outcomes.FAILED


def test_tampering_is_an_error_naming_no_service():
    verdict = outcomes.judge(Tampered("experiment", "handson-x", {"mallory"}), "step2.experiment")
    assert (verdict.status, verdict.service, verdict.internal) == (outcomes.ERROR, None, False)
    assert "mallory" in verdict.message and "not the learner's fault" in verdict.message


def test_a_stack_error_is_an_error_naming_its_service():
    verdict = outcomes.judge(StackError("minio", "it stopped answering"), "step3.in_object_store")
    assert (verdict.status, verdict.service) == (outcomes.ERROR, "minio")
    assert "the stack failed (minio)" in verdict.message


def _services_down():
    import minio.error
    import pymysql
    import sqlalchemy.exc
    import urllib3.exceptions

    return [
        (ConnectionRefusedError(111, "Connection refused"), "mlflow"),
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "mlflow"),
        (TimeoutError("timed out"), "mlflow"),
        (http_error(503), "mlflow"),
        (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("Can't connect to MySQL server")), "mysql"),
        (pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"), "mysql"),
        (urllib3.exceptions.MaxRetryError(None, "/mlflow", urllib3.exceptions.NewConnectionError(None, "refused")),
         "minio"),
        (minio.error.ServerError("server failed with HTTP status code 503", 503), "minio"),
    ]


@pytest.mark.parametrize("exc,service", _services_down(), ids=lambda x: type(x).__name__ if isinstance(x, BaseException) else x)
def test_a_service_that_did_not_answer_is_an_error_naming_it(exc, service):
    assert outcomes.service_down(exc) == service
    verdict = outcomes.judge(exc, "step2.run")
    assert (verdict.status, verdict.service, verdict.internal) == (outcomes.ERROR, service, False)


def test_an_http_404_inside_a_check_is_not_an_outage():
    """A 404 is the MLflow server answering: no restart, no second run of the step; unhandled, it is the
    grader's bug (an internal error), whatever module raised it."""
    assert outcomes.service_down(http_error(404)) is None
    verdict = outcomes.judge(http_error(404), "step3.text")
    assert (verdict.status, verdict.service, verdict.internal) == (outcomes.ERROR, None, True)
    assert "internal grader error" in verdict.message


def test_answers_of_libraries_are_not_outages():
    import sqlalchemy.exc

    programming = sqlalchemy.exc.ProgrammingError("SELECT nope", {}, Exception("Unknown column"))
    for exc in (programming, KeyError("mse"), ValueError("bad"), http_error(400)):
        verdict = outcomes.judge(exc, "step2.metric_history")
        assert (verdict.status, verdict.service, verdict.internal) == (outcomes.ERROR, None, True), exc


def test_passing_is_passed():
    assert outcomes.judge(None, "step2.tag") == outcomes.Verdict(outcomes.PASSED)


# -- needs -------------------------------------------------------------------------------------------------
def _grade_in_order(failing: set[str], step: str) -> dict[str, outcomes.Verdict]:
    """The checks of ``step`` judged in catalogue order, as the plugin does; those in ``failing`` fail."""
    verdicts = {}
    for check in catalog.CHECKS:
        if check.step == step:
            exc = CheckFailed("bucket.missing", store="-") if check.id in failing else None
            verdicts[check.id] = outcomes.judge(exc, check.id, needs=check.needs, verdicts=verdicts)
    return verdicts


def test_a_failed_root_makes_its_failing_dependents_not_graded_naming_the_root():
    step2 = [c.id for c in catalog.CHECKS if c.step == "step2"]
    verdicts = _grade_in_order(set(step2), "step2")
    assert verdicts["step2.experiment"].status == outcomes.FAILED
    for check_id in step2[1:]:
        verdict = verdicts[check_id]
        # transitively too: step2.latest_metrics needs step2.metric_history, which needs step2.run, …
        assert (verdict.status, verdict.needs) == (outcomes.NOT_GRADED, ("step2.experiment",)), check_id
        assert verdict.message == "not graded — needs step2.experiment"


def test_a_dependent_whose_own_fact_holds_still_passes():
    """A run left RUNNING fails step2.run; its tag and params were logged right and still earn their points."""
    verdicts = _grade_in_order({"step2.run", "step2.params"}, "step2")
    assert verdicts["step2.run"].status == outcomes.FAILED
    assert verdicts["step2.tag"].status == outcomes.PASSED
    assert verdicts["step2.params"].status == outcomes.NOT_GRADED


def test_errors_are_never_turned_into_not_graded():
    verdicts = {"step2.run": outcomes.Verdict(outcomes.FAILED, "x")}
    verdict = outcomes.judge(StackError("mysql", "gone"), "step2.tag", needs=("step2.run",), verdicts=verdicts)
    assert verdict.status == outcomes.ERROR


def test_not_graded_in_japanese():
    set_lang("ja")
    assert outcomes.not_graded("step2.tag", ("step2.run",)).message == "採点していません — 前提となる step2.run が不合格です"


def test_needs_name_earlier_checks_of_the_same_step():
    """A step's checks run in order on one worker: a needed check is always graded before its dependents."""
    order = {c.id: i for i, c in enumerate(catalog.CHECKS)}
    for check in catalog.CHECKS:
        for need in check.needs:
            assert need in catalog.BY_ID and catalog.get(need).step == check.step, (check.id, need)
            assert order[need] < order[check.id], (check.id, need)


def test_each_step_has_one_root_and_stack_checks_need_nothing():
    for step in catalog.STEPS:
        roots = [c.id for c in catalog.CHECKS if c.step == step and c.kind == "learner" and not c.needs]
        assert len(roots) == 1, (step, roots)
    assert all(not c.needs for c in catalog.CHECKS if c.kind == "stack")


def test_one_module_decides_verdicts():
    """The plugin, the practice drills and the HTML report use grader/outcomes.py, none its own rules."""
    from grader import plugin

    assert not hasattr(plugin, "_infra_service")
    for path in ("grader/plugin.py", "grader/html_report.py", "grader/practice/grading.py"):
        source = (ROOT / path).read_text(encoding="utf-8")
        assert "outcomes." in source and "_infra_service" not in source and "except Tampered" not in source, path
    assert "grader.plugin" not in (ROOT / "grader/html_report.py").read_text(encoding="utf-8")


# -- where the work went ----------------------------------------------------------------------------------
class _FakeDB:
    """The tracking database of a stack without access control, after a script that never called
    set_experiment: its run sits in 'Default' (id 0), next to another learner's handed-out experiment."""

    def experiments_named(self, name):
        return []

    def run_experiments_between(self, since_ms, until_ms):
        return [("0", "Default"), ("7", "handson-someone-else")]

    def experiments_between(self, since_ms, until_ms):
        return []


def _outcome_without_experiment():
    from types import SimpleNamespace

    from grader.checking import StepOutcome

    script = SimpleNamespace(started_ms=1_000, duration=3.0, exists=True, ok=True, script="step2.py")
    return StepOutcome(learner="alice", step="step2", submission=Path("."), data_dir=Path("."), script=script,
                       experiment_name="handson-alice-step2", model_name="m", stack=None, db=_FakeDB(),
                       objects=None)


@pytest.mark.parametrize("lang,fragment", [
    ("en", "none: your runs went into experiment 'Default' (id 0) — call "
           "mlflow.set_experiment(os.environ['HANDSON_EXPERIMENT']) before start_run"),
    ("ja", "run は実験 'Default'（ID 0）に記録されています。start_run の前に "
           "mlflow.set_experiment(os.environ['HANDSON_EXPERIMENT']) を呼んでください"),
])
def test_runs_in_the_default_experiment_are_where_the_work_went(lang, fragment):
    set_lang(lang)
    with pytest.raises(CheckFailed) as info:
        _outcome_without_experiment().experiment()
    assert info.value.key == "experiment.runs_elsewhere"
    assert fragment in info.value.render()
    assert "someone-else" not in info.value.render()
