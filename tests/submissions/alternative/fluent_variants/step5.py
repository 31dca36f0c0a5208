"""Step 5, fluent variants: train every alpha first, then reopen the best child run and log its model
there with registered_model_name=..., which registers it as version 1."""

import os

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.linear_model import SGDRegressor

ALPHAS = [0.001, 0.01, 0.1]

table = np.loadtxt(os.path.join(os.environ["HANDSON_DATA_DIR"], "regression.csv"), delimiter=",", skiprows=1)
train, val = table[:160], table[160:]


def rmse(model, rows):
    return float(np.sqrt(np.mean((model.predict(rows[:, :3]) - rows[:, 3]) ** 2)))


mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])
trained = {}  # run_id -> (val_rmse, model)
with mlflow.start_run(run_name="sweep"):
    for alpha in ALPHAS:
        with mlflow.start_run(run_name=f"alpha={alpha}", nested=True) as child:
            mlflow.log_params({"alpha": alpha})
            model = SGDRegressor(alpha=alpha, random_state=0)
            for epoch in range(10):
                model.partial_fit(train[:, :3], train[:, 3])
                mlflow.log_metrics({"train_rmse": rmse(model, train)}, step=epoch)
            score = rmse(model, val)
            mlflow.log_metric("val_rmse", score)
            trained[child.info.run_id] = (score, model)

    best_run_id = min(trained, key=lambda run_id: trained[run_id][0])
    with mlflow.start_run(run_id=best_run_id, nested=True):
        mlflow.set_tag("best", "true")
        mlflow.sklearn.log_model(trained[best_run_id][1], name="model",
                                 registered_model_name=os.environ["HANDSON_MODEL_NAME"])
print("best:", best_run_id)
