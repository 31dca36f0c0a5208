"""Step 1 — mistake: the learner "cleans up" at the end and deletes the experiment it just created,
so it can re-run the script. The experiment then sits in the trash (lifecycle_stage = deleted)."""

import os

import mlflow
from mlflow.exceptions import MlflowException

experiment_name = os.environ["HANDSON_EXPERIMENT"]

experiment_id = mlflow.create_experiment(experiment_name, tags={"purpose": "handson"})
print(f"created experiment {experiment_name!r} with id {experiment_id}")

try:
    mlflow.create_experiment(experiment_name)
except MlflowException as e:
    print(f"second create_experiment was rejected: {e.error_code}")

# clean up so that the script can be run again
mlflow.delete_experiment(experiment_id)
print("deleted the experiment again")
