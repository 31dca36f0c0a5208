"""The grader reads a bounded amount of each learner's work: rows per query, bytes per object, keys per
listing. Real stack (MariaDB + MinIO through MLflow), with the bounds made small for the test."""

from __future__ import annotations

import uuid

import pytest

from grader import store
from grader.checking import CheckFailed

pytestmark = [pytest.mark.realstack]


@pytest.fixture
def as_admin(local_stack, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", local_stack.admin_user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", local_stack.admin_password)
    mlflow.set_tracking_uri(local_stack.tracking_uri)
    yield mlflow.MlflowClient(local_stack.tracking_uri)
    mlflow.set_tracking_uri(None)


def test_too_many_metric_rows_fail_with_the_limit_named(local_stack, as_admin, monkeypatch):
    from mlflow.entities import Metric

    name = f"bounds-{uuid.uuid4().hex[:8]}"
    exp = as_admin.create_experiment(name)
    run = as_admin.create_run(exp)
    as_admin.log_batch(run.info.run_id, metrics=[Metric("loss", float(i), 0, i) for i in range(30)])
    db = store.TrackingDB(local_stack.db_url)
    try:
        monkeypatch.setattr(store, "MAX_ROWS", 100)
        assert len(db.experiments_named(name)[0].runs[0].metrics["loss"]) == 30
        monkeypatch.setattr(store, "MAX_ROWS", 29)
        with pytest.raises(CheckFailed) as failed:
            db.experiments_named(name)
        assert failed.value.key == "store.too_many" and "29" in failed.value.render()
    finally:
        db.close()


def test_objects_are_read_up_to_a_bound_and_empty_ones_read_empty(local_stack, as_admin, monkeypatch, tmp_path):
    exp = as_admin.create_experiment(f"bounds-{uuid.uuid4().hex[:8]}")
    run = as_admin.create_run(exp)
    (tmp_path / "big.txt").write_bytes(b"x" * 1000)
    (tmp_path / "empty.txt").write_bytes(b"")
    as_admin.log_artifact(run.info.run_id, str(tmp_path / "big.txt"))
    as_admin.log_artifact(run.info.run_id, str(tmp_path / "empty.txt"))
    objects = store.ObjectStore(local_stack)
    prefix = store.artifact_key(as_admin.get_run(run.info.run_id).info.artifact_uri)
    monkeypatch.setattr(store, "MAX_OBJECT_BYTES", 100)
    assert objects.get(f"{prefix}/big.txt") == b"x" * 101
    assert objects.get(f"{prefix}/empty.txt") == b""
    monkeypatch.setattr(store, "MAX_KEYS", 1)
    assert len(objects.keys(prefix)) == 1
