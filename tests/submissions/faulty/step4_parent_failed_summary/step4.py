"""Step 4 — mistake: after the children, a summary line reads the parent's own 'score' metric, which
only the children logged: KeyError inside the parent's `with` block ends ParentRun as FAILED."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="ParentRun") as parent:
    for index in (1, 2):
        with mlflow.start_run(run_name=f"ChildRun{index}", nested=True):
            mlflow.log_param("child_index", index)
            mlflow.log_metric("score", index * 0.5, step=0)
    summary = mlflow.get_run(parent.info.run_id).data.metrics
    print(f"parent score: {summary['score']}")
