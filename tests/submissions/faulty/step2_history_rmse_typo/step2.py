"""Step 2 — mistake: a copy-paste slip logs rmse = 100.0 (mse's value) at step 0."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="SampleA"):
    mlflow.set_tag("tagA", "hoge")
    mlflow.log_param("Dence", 128)
    mlflow.log_params({"Dropout": 0.1, "Activation": "relu"})
    mlflow.log_metric("mse", 100.0, step=0)
    mlflow.log_metric("rmse", 100.0, step=0)
    mlflow.log_metrics({"mse": 150.0, "rmse": 120.0}, step=1)
