"""Step 2 — mistake: tag key 'taga' instead of 'tagA' (utf8mb4_bin: keys differing in case are different)."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="SampleA"):
    mlflow.set_tag("taga", "hoge")
    mlflow.log_param("Dence", 128)
    mlflow.log_params({"Dropout": 0.1, "Activation": "relu"})
    mlflow.log_metric("mse", 100.0, step=0)
    mlflow.log_metric("rmse", 50.0, step=0)
    mlflow.log_metrics({"mse": 150.0, "rmse": 120.0}, step=1)
