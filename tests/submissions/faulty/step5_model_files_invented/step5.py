"""Step 5 — mistake (or a shortcut): the sweep's curves and scores are made up instead of trained, and a
hand-written "model" (an MLmodel file and a 5-byte model.pkl) is registered from the best child. Every
run, tag and file the checks look for is there; only the model itself cannot reproduce the val_rmse its
run logged."""

import os
import tempfile

import mlflow
from mlflow import MlflowClient

ALPHAS = (0.001, 0.01, 0.1)
INVENTED = {0.001: 0.31, 0.01: 0.27, 0.1: 0.45}
MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.11.7
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.0
"""

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])
scores = {}
with mlflow.start_run(run_name="sweep"):
    for alpha in ALPHAS:
        with mlflow.start_run(run_name=f"alpha={alpha}", nested=True) as child:
            mlflow.log_param("alpha", alpha)
            for epoch in range(10):
                mlflow.log_metric("train_rmse", 1.0 / (epoch + 1), step=epoch)
            mlflow.log_metric("val_rmse", INVENTED[alpha])
            with tempfile.TemporaryDirectory() as folder:
                with open(os.path.join(folder, "MLmodel"), "w") as f:
                    f.write(MLMODEL)
                with open(os.path.join(folder, "model.pkl"), "wb") as f:
                    f.write(b"model")
                mlflow.log_artifacts(folder, "model")
            scores[child.info.run_id] = (INVENTED[alpha], child.info.artifact_uri)

best_run_id = min(scores, key=lambda run_id: scores[run_id][0])
client = MlflowClient()
client.set_tag(best_run_id, "best", "true")
client.create_registered_model(os.environ["HANDSON_MODEL_NAME"])
version = client.create_model_version(os.environ["HANDSON_MODEL_NAME"], source=f"{scores[best_run_id][1]}/model",
                                      run_id=best_run_id)
print(f"registered version {version.version} from {best_run_id}")
