"""Step 3 — mistake: the learner wants to "see the files locally" and creates the experiment with a
local artifact_location (file://...). The grader's servers choose every artifact location themselves
(a script could otherwise make the server read and write any file it can), so create_experiment is
refused with a message that says why; the script stops there and every step-3 check fails."""

import os
from pathlib import Path

import mlflow

local_store = Path("local-artifacts").resolve()
experiment_id = mlflow.create_experiment(os.environ["HANDSON_EXPERIMENT"], artifact_location=local_store.as_uri())
mlflow.set_experiment(experiment_id=experiment_id)

with mlflow.start_run(run_name="SampleB") as run:
    mlflow.log_text("Hello world", "file1.txt")
    mlflow.log_dict({"var1": 1.0, "var2": "fugafuga"}, "file2.json")
    mlflow.log_artifact(os.path.join(os.environ["HANDSON_DATA_DIR"], "sample.png"))
print(f"artifacts are in {run.info.artifact_uri}")
