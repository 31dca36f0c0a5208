"""Step 3, fluent variants: files written to a temporary folder (file1.txt with print, so it ends in a
newline) and uploaded with log_artifacts."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])
mlflow.start_run(run_name="SampleB")

with tempfile.TemporaryDirectory() as folder:
    with open(Path(folder, "file1.txt"), "w", encoding="utf-8") as f:
        print("Hello world", file=f)  # ends in a newline: still the text Hello world
    with open(Path(folder, "file2.json"), "w", encoding="utf-8") as f:
        json.dump({"var1": 1.0, "var2": "fugafuga"}, f)
    shutil.copy(Path(os.environ["HANDSON_DATA_DIR"], "sample.png"), folder)
    mlflow.log_artifacts(folder)

mlflow.end_run()
