"""Artifacts under sub-directories of the run's artifact root (artifact_path)."""

import json

from grader.checking import expect, fail, shown
from grader.practice import Check
from grader.practice.helpers import head, object_text

ID = "artifact_dirs"
TITLE = {"en": "Log artifacts into sub-directories (artifact_path)",
         "ja": "アーティファクトをサブディレクトリに記録する（artifact_path）"}


def values(rng):
    return {
        "run_name": f"{rng.choice(['files', 'report', 'bundle'])}-{rng.randint(100, 999)}",
        "folder": f"{rng.choice(['reports', 'outputs', 'results'])}/{rng.choice(['daily', 'v1', 'final', 'eval'])}",
        "file_name": f"{rng.choice(['summary', 'notes', 'findings'])}.txt",
        "content": f"{rng.choice(['accuracy', 'coverage', 'recall'])} {rng.randint(50, 99)}%",
        "dict_path": f"{rng.choice(['configs', 'params', 'settings'])}/{rng.choice(['train', 'model', 'search'])}.json",
        "config": {"lr": rng.choice([0.1, 0.01, 0.001]), "depth": rng.randint(2, 9),
                   "name": rng.choice(["oak", "pine", "elm", "ash"])},
    }


TASK = {"en": """\
In a run named `$run_name`:

1. write a local file `$file_name` holding the text `$content` and log it with
   `mlflow.log_artifact(path, artifact_path="$folder")`, so it lands at `$folder/$file_name`
   under the run's artifacts;
2. log the dictionary `$config` as JSON at `$dict_path` with `mlflow.log_dict`.

The checks read the objects in the artifact bucket (`python -m grader stack ls` lists them).
""", "ja": """\
`$run_name` という名前の run を開始し、その中で次の 2 つを行ってください。

1. テキスト `$content` を書いたローカルファイル `$file_name` を作り、`mlflow.log_artifact(path, artifact_path="$folder")` で記録します。run のアーティファクトの `$folder/$file_name` に置かれます。
2. 辞書 `$config` を `mlflow.log_dict` で JSON として `$dict_path` に記録します。

採点では、アーティファクトストアに保存されたオブジェクトを読みます（`python -m grader stack ls` で一覧できます）。
"""}

STUB = head(ID, "import tempfile\n") + '''
# TODO 1: in the run from TASK.md, write the text file and log it under its sub-directory.
#         TASK.md の run で、テキストファイルを書いてサブディレクトリに記録してください。
#   API: with mlflow.start_run(run_name="..."):
#            folder = tempfile.mkdtemp()           # a place for the local file / ローカルファイルの置き場所
#            mlflow.log_artifact(path, artifact_path="...")

# TODO 2: log the dictionary as JSON at its path.
#         辞書を JSON としてそのパスに記録してください。
#   API: mlflow.log_dict(dictionary, "dir/name.json")
'''

SOLUTION = head(ID, "import tempfile\n") + '''
with mlflow.start_run(run_name=$run_name):
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, $file_name)
    with open(path, "w", encoding="utf-8") as f:
        f.write($content)
    mlflow.log_artifact(path, artifact_path=$folder)
    mlflow.log_dict($config, $dict_path)
'''


def _text_file(outcome, v):
    run = outcome.run_named(v["run_name"])
    path = f"{v['folder']}/{v['file_name']}"
    found = object_text(outcome, run, path)
    expect(found.rstrip("\n") == v["content"], "practice.object_content", run=v["run_name"], path=path,
           expected=shown(v["content"]), found=shown(found))


def _dict_file(outcome, v):
    run = outcome.run_named(v["run_name"])
    text = object_text(outcome, run, v["dict_path"])
    try:
        found = json.loads(text)
    except ValueError:
        fail("practice.object_content", run=v["run_name"], path=v["dict_path"], expected=v["config"], found=shown(text))
    expect(found == v["config"], "practice.object_content", run=v["run_name"], path=v["dict_path"],
           expected=v["config"], found=found)


CHECKS = [
    Check("text_file", {"en": "$folder/$file_name holds the text from TASK.md",
                        "ja": "$folder/$file_name に TASK.md のテキストがある"},
          {"en": "mlflow.log_artifact(path, artifact_path='$folder') puts the file under that sub-directory",
           "ja": "mlflow.log_artifact(path, artifact_path='$folder') で記録すると、ファイルがそのサブディレクトリに置かれます"},
          _text_file),
    Check("dict_file", {"en": "$dict_path holds the dictionary as JSON",
                        "ja": "$dict_path に辞書が JSON で記録されている"},
          {"en": "mlflow.log_dict(dictionary, '$dict_path') inside the run",
           "ja": "run の中で mlflow.log_dict(dictionary, '$dict_path') を呼んでください"},
          _dict_file),
]

FAULTS = [
    ("text_file", [("artifact_path=$folder", "artifact_path=None")]),
    ("dict_file", [("mlflow.log_dict($config, $dict_path)", "mlflow.log_dict({}, $dict_path)")]),
]
