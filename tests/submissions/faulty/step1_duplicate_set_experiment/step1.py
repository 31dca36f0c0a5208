"""Step 1 — mistake: the "second create" uses mlflow.set_experiment, which silently returns the
existing experiment, so no RESOURCE_ALREADY_EXISTS error is ever raised or printed."""

import os

import mlflow
from mlflow.exceptions import MlflowException

experiment_name = os.environ["HANDSON_EXPERIMENT"]

experiment_id = mlflow.create_experiment(experiment_name, tags={"purpose": "handson"})
print(f"created experiment {experiment_name!r} with id {experiment_id}")

try:
    again = mlflow.set_experiment(experiment_name)
    print(f"created it again? got id {again.experiment_id}")
except MlflowException as e:
    print(f"second create was rejected: {e.error_code}")
