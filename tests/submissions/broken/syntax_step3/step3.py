"""Step 3 — broken: a closing parenthesis is missing, so the script does not even parse."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="SampleB"):
    mlflow.log_text("Hello world", "file1.txt"
    mlflow.log_dict({"var1": 1.0, "var2": "fugafuga"}, "file2.json")
    mlflow.log_artifact(os.path.join(os.environ["HANDSON_DATA_DIR"], "sample.png"))
