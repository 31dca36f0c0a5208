"""Step 1 — experiments (実験).

Goal / 目標:
  Create an experiment named by HANDSON_EXPERIMENT, tagged purpose=handson; then try to create it
  again and print the error code MLflow answers with.
  環境変数 HANDSON_EXPERIMENT が示す名前で実験を作り、タグ purpose=handson を付けます。続けて同じ名前で
  もう一度作ろうとし、MLflow が返すエラーコードを表示します。

Grade / 採点:  pytest -k step1
"""

import os

import mlflow
from mlflow.exceptions import MlflowException  # noqa: F401  (used in TODO 2 / TODO 2 で使います)

# The grader sets these; mlflow reads MLFLOW_TRACKING_URI by itself.
# 採点プログラムが設定します。MLFLOW_TRACKING_URI は mlflow が自動で読み込みます。
experiment_name = os.environ["HANDSON_EXPERIMENT"]
print(f"tracking server: {mlflow.get_tracking_uri()}")
print(f"experiment name: {experiment_name}")

# TODO 1: create the experiment with the tag purpose=handson.
#         タグ purpose=handson を付けて実験を作成してください。
#   API: mlflow.create_experiment(name, tags={...}) -> experiment id


# TODO 2: create the same experiment again. MLflow refuses: catch the MlflowException `e`
#         and print(e.error_code).
#         同じ実験をもう一度作成してください。MLflow は拒否するので、MlflowException を `e` として捕まえて、
#         print(e.error_code) で出力してください。
#   API: try: ... except MlflowException as e: ...
