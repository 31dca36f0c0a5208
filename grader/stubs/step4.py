"""Step 4 — nested runs (run の入れ子).

Goal / 目標:
  In the experiment named by the environment variable HANDSON_EXPERIMENT, a run ParentRun with two child runs ChildRun1 and ChildRun2.
  Child N logs param child_index = N and a metric score at step 0.
  環境変数 HANDSON_EXPERIMENT が示す名前の実験に、親 run ParentRun と、その子 run ChildRun1・ChildRun2 を作ります。
  子 run N はパラメータ child_index = N と、step 0 のメトリクス score を記録します。

Grade / 採点:  pytest -k step4
"""

import os

import mlflow

# TODO 1: mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

# TODO 2: with mlflow.start_run(run_name="ParentRun"):
#           for index in (1, 2):
#               with mlflow.start_run(run_name=f"ChildRun{index}", nested=True):
#                   ...log_param("child_index", index) and log_metric("score", value, step=0)
#   Without nested=True the inner start_run fails (a run is already active).
#   nested=True を付けないと、すでに run が実行中のため、内側の start_run はエラーになります。

print("step4: no runs yet - fill in the TODOs / まだ run がありません。TODO を埋めてください")
