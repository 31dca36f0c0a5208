"""Step 1, fluent variants: create, select by id, tag the active experiment, print the whole error."""

import os

import mlflow

name = os.environ["HANDSON_EXPERIMENT"]
experiment_id = mlflow.create_experiment(name)
mlflow.set_experiment(experiment_id=experiment_id)
mlflow.set_experiment_tag("purpose", "handson")

try:
    mlflow.create_experiment(name)
except Exception as e:  # the REST error's text starts with its code
    print(f"could not create it twice: {e}")
