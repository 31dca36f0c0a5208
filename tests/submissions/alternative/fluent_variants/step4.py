"""Step 4, fluent variants: one child in a `with` block, one with an explicit parent_run_id and end_run()."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

parent = mlflow.start_run(run_name="ParentRun")

with mlflow.start_run(run_name="ChildRun1", nested=True):
    mlflow.log_params({"child_index": 1})
    mlflow.log_metrics({"score": 0.5}, step=0)

mlflow.start_run(run_name="ChildRun2", nested=True, parent_run_id=parent.info.run_id)
mlflow.log_param("child_index", "2")
mlflow.log_metric("score", 1.0, step=0, synchronous=True)
mlflow.end_run()  # ChildRun2

mlflow.end_run()  # ParentRun
