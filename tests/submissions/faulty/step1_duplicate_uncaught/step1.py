"""Step 1 — mistake: the second create_experiment is not inside try/except. MLflow rejects it with
RESOURCE_ALREADY_EXISTS, the exception ends the script, and the code only appears in the traceback."""

import os

import mlflow

experiment_name = os.environ["HANDSON_EXPERIMENT"]
experiment_id = mlflow.create_experiment(experiment_name, tags={"purpose": "handson"})
print(f"created experiment {experiment_name!r} with id {experiment_id}")
mlflow.create_experiment(experiment_name)
print("not reached")
