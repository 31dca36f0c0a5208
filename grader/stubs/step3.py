"""Step 3 — artifacts in object storage (アーティファクトとアーティファクトストア).

Goal / 目標:
  In the experiment named by the environment variable HANDSON_EXPERIMENT, one run named SampleB with three artifacts:
    file1.txt   the text "Hello world"
    file2.json  the dict {"var1": 1.0, "var2": "fugafuga"}
    sample.png  the file data/sample.png, uploaded as it is
  They travel through the tracking server into the MinIO bucket: look for them there afterwards.
  環境変数 HANDSON_EXPERIMENT が示す名前の実験に SampleB という名前の run を作り、3 つのアーティファクトを記録します。
  ファイルはトラッキングサーバ経由で MinIO のバケットに保存されます。後でバケットの中も確認しましょう。

Grade / 採点:  pytest -k step3
"""

import os

import mlflow

data_dir = os.environ["HANDSON_DATA_DIR"]  # absolute path of data/ / data/ の絶対パス
image_path = os.path.join(data_dir, "sample.png")

# TODO 1: mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

# TODO 2: with mlflow.start_run(run_name="SampleB"):
#           mlflow.log_text(text, artifact_file)        text → file / テキストをファイルとして保存
#           mlflow.log_dict(dictionary, artifact_file)  dict → JSON / 辞書を JSON として保存
#           mlflow.log_artifact(local_path)             an existing file / 既存ファイルをアップロード

print(f"step3: would upload {image_path} - fill in the TODOs / TODO を埋めてください")
