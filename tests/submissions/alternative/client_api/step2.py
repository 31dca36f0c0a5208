"""Step 2, client API style: create_run with the mlflow.runName tag, log_batch, explicit timestamps."""

import os
import time

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

client = MlflowClient()
name = os.environ["HANDSON_EXPERIMENT"]
experiment = client.get_experiment_by_name(name)
experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)

run = client.create_run(experiment_id, tags={"mlflow.runName": "SampleA"})
run_id = run.info.run_id

client.set_tag(run_id, "tagA", "hoge")
client.log_param(run_id, "Dence", "128")
client.log_batch(run_id, params=[Param("Dropout", "0.1"), Param("Activation", "relu")])

t0 = int(time.time() * 1000)
client.log_metric(run_id, "mse", 100.0, timestamp=t0, step=0)
client.log_metric(run_id, "rmse", 50.0, timestamp=t0, step=0)
client.log_batch(run_id, metrics=[Metric("mse", 150.0, t0 + 1, 1), Metric("rmse", 120.0, t0 + 1, 1)])

client.set_terminated(run_id, "FINISHED")
print("run", run_id, "finished")
