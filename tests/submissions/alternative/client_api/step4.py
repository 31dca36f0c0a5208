"""Step 4, client API style: children created with the mlflow.parentRunId tag, terminated before the parent."""

import os

from mlflow import MlflowClient

client = MlflowClient()
name = os.environ["HANDSON_EXPERIMENT"]
experiment = client.get_experiment_by_name(name)
experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)

parent_id = client.create_run(experiment_id, run_name="ParentRun").info.run_id
for index in (1, 2):
    child = client.create_run(
        experiment_id, tags={"mlflow.runName": f"ChildRun{index}", "mlflow.parentRunId": parent_id})
    client.log_param(child.info.run_id, "child_index", index)
    client.log_metric(child.info.run_id, "score", index * 0.5, step=0)
    client.set_terminated(child.info.run_id, "FINISHED")
client.set_terminated(parent_id, "FINISHED")
print("parent", parent_id)
