"""Step 5, client API style: runs, metrics and tags through MlflowClient; the model saved with
save_model and uploaded as run artifacts; the version created from the run's artifact URI."""

import os
import tempfile
import time

import mlflow.sklearn
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric
from sklearn.linear_model import SGDRegressor

ALPHAS = (0.001, 0.01, 0.1)
EPOCHS = 10

client = MlflowClient()
name = os.environ["HANDSON_EXPERIMENT"]
experiment = client.get_experiment_by_name(name)
experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)

table = np.loadtxt(os.path.join(os.environ["HANDSON_DATA_DIR"], "regression.csv"), delimiter=",", skiprows=1)
x_train, y_train = table[:160, :3], table[:160, 3]
x_val, y_val = table[160:, :3], table[160:, 3]


def rmse(model, features, target):
    return float(np.sqrt(np.mean((model.predict(features) - target) ** 2)))


sweep_id = client.create_run(experiment_id, run_name="sweep").info.run_id
scores = {}
for alpha in ALPHAS:
    child = client.create_run(experiment_id, run_name=f"alpha={alpha}", tags={"mlflow.parentRunId": sweep_id})
    run_id = child.info.run_id
    client.log_param(run_id, "alpha", alpha)
    model = SGDRegressor(alpha=alpha, random_state=0)
    curve = []
    for epoch in range(EPOCHS):
        model.partial_fit(x_train, y_train)
        curve.append(Metric("train_rmse", rmse(model, x_train, y_train), int(time.time() * 1000), epoch))
    client.log_batch(run_id, metrics=curve)
    scores[run_id] = rmse(model, x_val, y_val)
    client.log_metric(run_id, "val_rmse", scores[run_id])
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.sklearn.save_model(model, os.path.join(tmp, "model"))
        client.log_artifacts(run_id, os.path.join(tmp, "model"), "model")
    client.set_terminated(run_id)
client.set_terminated(sweep_id)

best_run_id = min(scores, key=scores.get)
client.set_tag(best_run_id, "best", "true")
model_name = os.environ["HANDSON_MODEL_NAME"]
client.create_registered_model(model_name)
source = client.get_run(best_run_id).info.artifact_uri + "/model"
version = client.create_model_version(model_name, source=source, run_id=best_run_id)
print(f"registered {model_name} v{version.version} from {source}")
