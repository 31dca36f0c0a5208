"""Step 4 — mistake: child_index comes from enumerate() without start=1, so it is 0 and 1."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="ParentRun"):
    for index, name in enumerate(["ChildRun1", "ChildRun2"]):
        with mlflow.start_run(run_name=name, nested=True):
            mlflow.log_param("child_index", index)
            mlflow.log_metric("score", (index + 1) * 0.5, step=0)
