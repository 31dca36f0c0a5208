"""Step 4 (reference answer): a parent run with two nested child runs."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="ParentRun"):
    for index in (1, 2):
        with mlflow.start_run(run_name=f"ChildRun{index}", nested=True):
            mlflow.log_param("child_index", index)
            mlflow.log_metric("score", index * 0.5, step=0)
