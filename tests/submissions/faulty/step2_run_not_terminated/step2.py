"""Step 2 — mistake: the run is created with MlflowClient.create_run and everything is logged through
the client, but client.set_terminated(...) is never called, so the run stays RUNNING."""

import os

import mlflow
from mlflow import MlflowClient

experiment = mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])
client = MlflowClient()

run = client.create_run(experiment.experiment_id, run_name="SampleA")
run_id = run.info.run_id
client.set_tag(run_id, "tagA", "hoge")
client.log_param(run_id, "Dence", 128)
client.log_param(run_id, "Dropout", 0.1)
client.log_param(run_id, "Activation", "relu")
client.log_metric(run_id, "mse", 100.0, step=0)
client.log_metric(run_id, "rmse", 50.0, step=0)
client.log_metric(run_id, "mse", 150.0, step=1)
client.log_metric(run_id, "rmse", 120.0, step=1)
print(f"logged everything to run {run_id}")
# (forgot: client.set_terminated(run_id))
