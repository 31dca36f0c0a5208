"""Step 2 — mistake: everything is logged correctly, then the learner deletes the experiment
"to keep the UI tidy". The run's data is still there, but the experiment is in the trash."""

import os

import mlflow

experiment = mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="SampleA"):
    mlflow.set_tag("tagA", "hoge")
    mlflow.log_param("Dence", 128)
    mlflow.log_params({"Dropout": 0.1, "Activation": "relu"})
    mlflow.log_metric("mse", 100.0, step=0)
    mlflow.log_metric("rmse", 50.0, step=0)
    mlflow.log_metrics({"mse": 150.0, "rmse": 120.0}, step=1)

mlflow.delete_experiment(experiment.experiment_id)
