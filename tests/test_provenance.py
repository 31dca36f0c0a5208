"""Provenance: a check accepts only what this grading run's script produced.

A correct experiment and runs that already exist (from an earlier run, or made by someone else) must
not make a check pass: the grader filters by the experiment it handed out and by the script's start.
"""

import time

import pytest

from grader.checking import CheckFailed, StepOutcome, Tampered
from grader.runner import ScriptResult
from grader.store import AuthDB, ObjectStore, TrackingDB

pytestmark = pytest.mark.realstack


def mlflow_user(stack, name: str) -> tuple[str, str]:
    """A fresh MLflow user on the stack (made by the grader's admin account)."""
    import secrets

    from grader.stack.auth import create_user

    user = (f"{name}-{secrets.token_hex(3)}", secrets.token_urlsafe(12))
    create_user(stack, *user)
    return user


def seed_step2(tracking_uri: str, name: str, user: tuple[str, str], monkeypatch) -> None:
    """Write a perfect step 2 into experiment `name` as MLflow user `user`, as a stale earlier run would have."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
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


def outcome(stack, name: str, started_ms: int, user: str) -> StepOutcome:
    from pathlib import Path

    script = ScriptResult(script="step2.py", exists=True, returncode=0, started_ms=started_ms)
    return StepOutcome(learner="x", step="step2", submission=Path("."), data_dir=Path("."), script=script,
                       experiment_name=name, model_name="unused", stack=stack, db=TrackingDB(stack.db_url),
                       objects=ObjectStore(stack), user=user, auth=AuthDB(stack.auth_db_url))


STEP2 = ("test_experiment", "test_run", "test_tag", "test_param", "test_params", "test_metric_history",
         "test_latest_metrics")


def test_stale_experiment_never_passes(local_stack, monkeypatch):
    import checks.test_step2 as step2

    name = f"provenance-{time.time_ns()}"
    learner = mlflow_user(local_stack, "learner")
    seed_step2(local_stack.tracking_uri, name, learner, monkeypatch)
    # As if this grading run's script had started just now, after the stale data was written.
    late = outcome(local_stack, name, int(time.time() * 1000) + 1500, learner[0])
    for check in (step2.test_experiment, step2.test_run, step2.test_tag, step2.test_param, step2.test_params,
                  step2.test_metric_history, step2.test_latest_metrics):
        with pytest.raises(CheckFailed):
            check(late)
    # The same data, produced after the script started, passes: the filter is what rejected it.
    fresh = outcome(local_stack, name, int(time.time() * 1000) - 120_000, learner[0])
    for check in (step2.test_experiment, step2.test_run, step2.test_tag, step2.test_param, step2.test_params,
                  step2.test_metric_history, step2.test_latest_metrics):
        check(fresh)


def test_experiment_made_by_another_user_is_tampering_not_a_failure(local_stack, monkeypatch):
    """Another MLflow user pre-created (and filled) the experiment handed to this learner: every check of
    the step is an error naming that user, never a pass and never the learner's failure."""
    import checks.test_step2 as step2

    name = f"tampered-{time.time_ns()}"
    victim = mlflow_user(local_stack, "victim")
    attacker = mlflow_user(local_stack, "attacker")
    seed_step2(local_stack.tracking_uri, name, attacker, monkeypatch)
    step = outcome(local_stack, name, int(time.time() * 1000) - 120_000, victim[0])
    for check in STEP2:
        with pytest.raises(Tampered) as caught:
            getattr(step2, check)(step)
        assert attacker[0] in str(caught.value)
    # The same data judged for its real creator passes: ownership is what was rejected.
    own = outcome(local_stack, name, int(time.time() * 1000) - 120_000, attacker[0])
    for check in STEP2:
        getattr(step2, check)(own)
