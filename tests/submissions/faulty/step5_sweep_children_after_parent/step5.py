"""Step 5 — mistake: the sweep run's block closes first; the children start afterwards with
start_run(parent_run_id=...). They are linked to 'sweep' by the mlflow.parentRunId tag (nested in the UI),
but ran after it had ended."""

import os

import mlflow
import mlflow.sklearn
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import SGDRegressor

ALPHAS = (0.001, 0.01, 0.1)
EPOCHS = 10


def load_data():
    table = np.loadtxt(os.path.join(os.environ["HANDSON_DATA_DIR"], "regression.csv"), delimiter=",", skiprows=1)
    features, target = table[:, :3], table[:, 3]
    return features[:160], target[:160], features[160:], target[160:]


def rmse(model, features, target):
    return float(np.sqrt(np.mean((model.predict(features) - target) ** 2)))


mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])
x_train, y_train, x_val, y_val = load_data()

results = []  # (val_rmse, run_id, model_uri)
with mlflow.start_run(run_name="sweep") as sweep:
    sweep_id = sweep.info.run_id

for alpha in ALPHAS:
    with mlflow.start_run(run_name=f"alpha={alpha}", parent_run_id=sweep_id) as child:
        mlflow.log_param("alpha", alpha)
        model = SGDRegressor(alpha=alpha, random_state=0)
        for epoch in range(EPOCHS):
            model.partial_fit(x_train, y_train)
            mlflow.log_metric("train_rmse", rmse(model, x_train, y_train), step=epoch)
        val_rmse = rmse(model, x_val, y_val)
        mlflow.log_metric("val_rmse", val_rmse)
        logged = mlflow.sklearn.log_model(model, name="model")
        results.append((val_rmse, child.info.run_id, logged.model_uri))

best_val, best_run_id, best_model_uri = min(results)
MlflowClient().set_tag(best_run_id, "best", "true")
version = mlflow.register_model(best_model_uri, os.environ["HANDSON_MODEL_NAME"])
print(f"best run {best_run_id} (val_rmse={best_val:.4f}) registered as version {version.version}")
