"""Step 3, client API style: log_text / log_dict / log_artifact on the client, then set_terminated."""

import os

from mlflow import MlflowClient

client = MlflowClient()
name = os.environ["HANDSON_EXPERIMENT"]
experiment = client.get_experiment_by_name(name)
experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)

run_id = client.create_run(experiment_id, run_name="SampleB").info.run_id
try:
    client.log_text(run_id, "Hello world", "file1.txt")
    client.log_dict(run_id, {"var1": 1.0, "var2": "fugafuga"}, "file2.json")
    client.log_artifact(run_id, os.path.join(os.environ["HANDSON_DATA_DIR"], "sample.png"))
except Exception:
    client.set_terminated(run_id, "FAILED")
    raise
client.set_terminated(run_id)
print([f.path for f in client.list_artifacts(run_id)])
