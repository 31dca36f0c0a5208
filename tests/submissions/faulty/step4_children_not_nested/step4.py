"""Step 4 — mistake: the children are created with MlflowClient.create_run inside the parent's block,
but without the mlflow.parentRunId tag, so they are top-level runs, not nested under ParentRun."""

import os

import mlflow
from mlflow import MlflowClient

experiment = mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])
client = MlflowClient()

with mlflow.start_run(run_name="ParentRun"):
    for index in (1, 2):
        child = client.create_run(experiment.experiment_id, run_name=f"ChildRun{index}")
        client.log_param(child.info.run_id, "child_index", index)
        client.log_metric(child.info.run_id, "score", index * 0.5, step=0)
        client.set_terminated(child.info.run_id)
