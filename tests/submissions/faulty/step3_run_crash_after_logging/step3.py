"""Step 3 — mistake: a typo in the final print inside the `with` block (artifact_url instead of
artifact_uri) raises AttributeError after all artifacts were logged, so the run ends FAILED."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="SampleB") as run:
    mlflow.log_text("Hello world", "file1.txt")
    mlflow.log_dict({"var1": 1.0, "var2": "fugafuga"}, "file2.json")
    mlflow.log_artifact(os.path.join(os.environ["HANDSON_DATA_DIR"], "sample.png"))
    print(f"artifacts stored at {run.info.artifact_url}")
