"""Step 4 — broken: the learner waits for the children to "finish" while they are still inside the
parent's block, which never happens: the script hangs until the grader stops it."""

import os
import time

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="ParentRun"):
    print("waiting for the child runs to finish ...", flush=True)
    while mlflow.active_run() is not None:
        time.sleep(1)
