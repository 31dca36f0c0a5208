"""Step 5 — capstone: a hyper-parameter sweep and the model registry.
総合課題（元教材の「動作確認課題」）: パラメータ探索（スイープ）とモデルレジストリ

Goal / 目標:
  Train SGDRegressor for alpha in (0.001, 0.01, 0.1). Track it all in the experiment named by
  the environment variable HANDSON_EXPERIMENT:
    - a parent run named "sweep"; one nested child run "alpha=<value>" per alpha, param alpha
    - in each child: train_rmse at every epoch (step = epoch, 10 epochs), val_rmse at the end,
      and the model (mlflow.sklearn.log_model)
    - tag the child with the lowest val_rmse best = 'true' (the lowercase string)
    - register that child's model under the name in the environment variable HANDSON_MODEL_NAME (it becomes version 1)
  alpha ごとに SGDRegressor を学習し、環境変数 HANDSON_EXPERIMENT が示す名前の実験に次のように記録します。
    - 親 run "sweep" と、alpha ごとの子 run "alpha=<値>"（パラメータ alpha）
    - 各子 run で、エポックごとの train_rmse（step = エポック番号、10 エポック）、最後に val_rmse、
      そしてモデル（mlflow.sklearn.log_model）
    - val_rmse が最小の子 run にタグ best = 'true'（小文字の文字列）
    - そのモデルを、環境変数 HANDSON_MODEL_NAME が示す名前で登録（登録モデルのバージョン 1 になります）

Grade / 採点:  pytest -k step5
"""

import os

import mlflow
import mlflow.sklearn  # noqa: F401  (TODO 4)
import numpy as np
from mlflow import MlflowClient  # noqa: F401  (TODO 5)
from sklearn.linear_model import SGDRegressor

ALPHAS = (0.001, 0.01, 0.1)
EPOCHS = 10


def load_data():
    """Rows 1-160 train, rows 161-200 validation. / 1〜160 行目が学習用、161〜200 行目が検証用。"""
    table = np.loadtxt(os.path.join(os.environ["HANDSON_DATA_DIR"], "regression.csv"), delimiter=",", skiprows=1)
    features, target = table[:, :3], table[:, 3]
    return features[:160], target[:160], features[160:], target[160:]


def rmse(model, features, target):
    return float(np.sqrt(np.mean((model.predict(features) - target) ** 2)))


x_train, y_train, x_val, y_val = load_data()

# TODO 1: mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

results = []  # (val_rmse, run_id, model_uri) per alpha / alpha ごと
# TODO 2: wrap the loop in `with mlflow.start_run(run_name="sweep"):` and each alpha in
#         `with mlflow.start_run(run_name=f"alpha={alpha}", nested=True) as child:`
#         ループ全体を親 run "sweep" で、各 alpha を入れ子の子 run で囲んでください。
for alpha in ALPHAS:
    # TODO 3: mlflow.log_param("alpha", alpha)
    model = SGDRegressor(alpha=alpha, random_state=0)
    for epoch in range(EPOCHS):
        model.partial_fit(x_train, y_train)
        train_rmse = rmse(model, x_train, y_train)
        # TODO 3: mlflow.log_metric("train_rmse", train_rmse, step=epoch)
    val_rmse = rmse(model, x_val, y_val)
    print(f"alpha={alpha}: val_rmse={val_rmse:.4f}")
    # TODO 3: mlflow.log_metric("val_rmse", val_rmse)
    # TODO 4: logged = mlflow.sklearn.log_model(model, name="model")
    #         results.append((val_rmse, child.info.run_id, logged.model_uri))

# TODO 5: pick the best (lowest val_rmse) / 最良（val_rmse 最小）を選ぶ:
#           best_val, best_run_id, best_model_uri = min(results)
#         MlflowClient().set_tag(best_run_id, "best", "true")
#         mlflow.register_model(best_model_uri, os.environ["HANDSON_MODEL_NAME"])
