"""Step 2 — mistake: the experiment name is hard-coded instead of read from HANDSON_EXPERIMENT,
so the (otherwise perfect) run lands in another experiment."""

import mlflow

mlflow.set_experiment("my-handson-step2")

with mlflow.start_run(run_name="SampleA"):
    mlflow.set_tag("tagA", "hoge")
    mlflow.log_param("Dence", 128)
    mlflow.log_params({"Dropout": 0.1, "Activation": "relu"})
    mlflow.log_metric("mse", 100.0, step=0)
    mlflow.log_metric("rmse", 50.0, step=0)
    mlflow.log_metrics({"mse": 150.0, "rmse": 120.0}, step=1)
