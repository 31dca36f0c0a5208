"""Step 4 — mistake: ParentRun is ended first; the children run afterwards and are linked to it only
through the mlflow.parentRunId tag. They are nested in the UI, but ran outside the parent's lifetime."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="ParentRun") as parent:
    parent_id = parent.info.run_id

for index in (1, 2):
    with mlflow.start_run(run_name=f"ChildRun{index}", tags={"mlflow.parentRunId": parent_id}):
        mlflow.log_param("child_index", index)
        mlflow.log_metric("score", index * 0.5, step=0)
