"""Step 2, fluent variants: start_run()/end_run() without `with`, set_tags, ints in log_params,
explicit timestamps, synchronous and asynchronous metric logging."""

import os
import time

import mlflow

experiment = mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

run = mlflow.start_run(experiment_id=experiment.experiment_id, run_name="SampleA")
mlflow.set_tags({"tagA": "hoge"})
mlflow.log_params({"Dence": 128, "Dropout": 0.1, "Activation": "relu"})

now = int(time.time() * 1000)
mlflow.log_metric("mse", 100, step=0, timestamp=now, synchronous=True)
mlflow.log_metric("rmse", 50, step=0, timestamp=now, synchronous=True)
pending = mlflow.log_metrics({"mse": 150, "rmse": 120}, step=1, timestamp=now + 5, synchronous=False)
pending.wait()
mlflow.end_run()
print(f"run {run.info.run_id} done")
