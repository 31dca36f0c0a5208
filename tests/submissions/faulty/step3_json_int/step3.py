"""Step 3 — mistake: var1 written as the integer 1 instead of the float 1.0."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="SampleB"):
    mlflow.log_text("Hello world", "file1.txt")
    mlflow.log_dict({"var1": 1, "var2": "fugafuga"}, "file2.json")
    mlflow.log_artifact(os.path.join(os.environ["HANDSON_DATA_DIR"], "sample.png"))
