"""Step 1 — mistake: the experiment tag value is spelled 'hands-on' instead of 'handson'."""

import os

import mlflow
from mlflow.exceptions import MlflowException

experiment_name = os.environ["HANDSON_EXPERIMENT"]

experiment_id = mlflow.create_experiment(experiment_name, tags={"purpose": "hands-on"})
print(f"created experiment {experiment_name!r} with id {experiment_id}")

try:
    mlflow.create_experiment(experiment_name)
except MlflowException as e:
    print(f"second create_experiment was rejected: {e.error_code}")
