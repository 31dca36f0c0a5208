"""Step 1, client API style: MlflowClient.create_experiment, the tag set afterwards."""

import os

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

client = MlflowClient()
name = os.environ["HANDSON_EXPERIMENT"]

experiment_id = client.create_experiment(name)
client.set_experiment_tag(experiment_id, "purpose", "handson")
print(f"created {name} ({experiment_id})")

try:
    client.create_experiment(name)
    print("unexpected: the duplicate was accepted")
except MlflowException as e:
    print("duplicate rejected with error code", e.error_code)
