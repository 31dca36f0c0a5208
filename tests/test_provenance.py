"""Provenance: a check accepts only what this grading run's script produced.

A correct experiment and runs that already exist (from an earlier run, or made by someone else) must
not make a check pass: the grader filters by the experiment it handed out and by the script's start.
"""

import time

import pytest

from grader.checking import CheckFailed, StepOutcome
from grader.runner import ScriptResult
from grader.store import ObjectStore, TrackingDB

pytestmark = pytest.mark.realstack


def seed_step2(tracking_uri: str, name: str) -> None:
    """Write a perfect step 2 into experiment `name` directly, as a stale earlier run would have."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    exp_id = client.create_experiment(name)
    run = client.create_run(exp_id, run_name="SampleA")
    rid = run.info.run_id
    client.set_tag(rid, "tagA", "hoge")
    for key, value in {"Dence": "128", "Dropout": "0.1", "Activation": "relu"}.items():
        client.log_param(rid, key, value)
    for step, values in enumerate(({"mse": 100.0, "rmse": 50.0}, {"mse": 150.0, "rmse": 120.0})):
        for key, value in values.items():
            client.log_metric(rid, key, value, step=step)
    client.set_terminated(rid)


def outcome(stack, name: str, started_ms: int) -> StepOutcome:
    from pathlib import Path

    script = ScriptResult(script="step2.py", exists=True, returncode=0, started_ms=started_ms)
    return StepOutcome(learner="x", step="step2", submission=Path("."), data_dir=Path("."), script=script,
                       experiment_name=name, model_name="unused", stack=stack, db=TrackingDB(stack.db_url),
                       objects=ObjectStore(stack))


def test_stale_experiment_never_passes(local_stack):
    import checks.test_step2 as step2

    name = f"provenance-{time.time_ns()}"
    seed_step2(local_stack.tracking_uri, name)
    # As if this grading run's script had started just now, after the stale data was written.
    late = outcome(local_stack, name, int(time.time() * 1000) + 1500)
    for check in (step2.test_experiment, step2.test_run, step2.test_tag, step2.test_param, step2.test_params,
                  step2.test_metric_history, step2.test_latest_metrics):
        with pytest.raises(CheckFailed):
            check(late)
    # The same data, produced after the script started, passes: the filter is what rejected it.
    fresh = outcome(local_stack, name, int(time.time() * 1000) - 120_000)
    for check in (step2.test_experiment, step2.test_run, step2.test_tag, step2.test_param, step2.test_params,
                  step2.test_metric_history, step2.test_latest_metrics):
        check(fresh)
