"""Step 2 — mistake: the step argument is forgotten, so every value is logged at step 0.
The metric history fails (step2.metric_history); latest_metrics, which the server derives from that history,
then holds mse 150.0 / rmse 120.0 at step 0 (the newest timestamp), not at step 1: not graded, needs
step2.metric_history."""

import os

import mlflow

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="SampleA"):
    mlflow.set_tag("tagA", "hoge")
    mlflow.log_param("Dence", 128)
    mlflow.log_params({"Dropout": 0.1, "Activation": "relu"})
    mlflow.log_metric("mse", 100.0)
    mlflow.log_metric("rmse", 50.0)
    mlflow.log_metrics({"mse": 150.0, "rmse": 120.0})
