"""Step 2 — a run with a tag, params and metrics (run・タグ・パラメータ・メトリクス).

Goal / 目標:
  In the experiment named by the environment variable HANDSON_EXPERIMENT, one run named SampleA holding
    tag     tagA = hoge
    params  Dence = 128 (spelled as in the course / 教材どおりの綴り), Dropout = 0.1, Activation = relu
    metrics mse = 100.0 and rmse = 50.0 at step 0, then mse = 150.0 and rmse = 120.0 at step 1
  環境変数 HANDSON_EXPERIMENT が示す名前の実験に SampleA という名前の run を 1 つ作り、
  上のタグ・パラメータ・メトリクスを記録します。

Grade / 採点:  pytest -k step2
"""

import os

import mlflow

# TODO 1: select the experiment (it is created if missing).
#         実験を選択してください（なければ作成されます）。
#   API: mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])


# TODO 2: open a run named SampleA. A `with` block ends it as FINISHED.
#         SampleA という名前の run を開始してください。`with` ブロックを抜けると FINISHED になります。
#   API: with mlflow.start_run(run_name="SampleA"):
#
# TODO 3 (inside the run / run の中で):
#   mlflow.set_tag(key, value)                      tag / タグ
#   mlflow.log_param(key, value)                    one param / パラメータ 1 つ
#   mlflow.log_params({...})                        several params / まとめて記録
#   mlflow.log_metric(key, value, step=0)           one metric at a step / step を指定して 1 つ
#   mlflow.log_metrics({...}, step=1)               several metrics at a step / 同じ step でまとめて記録

print("step2: nothing logged yet - fill in the TODOs / まだ何も記録していません。TODO を埋めてください")
