"""A dataset logged as the run's input (log_input)."""

import json

from grader.checking import expect
from grader.practice import Check
from grader.practice.helpers import head

ID = "dataset"
TITLE = {"en": "Log a dataset as the run's input (log_input)", "ja": "データセットを run の入力として記録する（log_input）"}

CONTEXT = "mlflow.data.context"


def values(rng):
    rows = rng.randint(5, 9)
    return {
        "run_name": f"{rng.choice(['fit', 'train', 'learn'])}-{rng.randint(100, 999)}",
        "ds_name": f"{rng.choice(['houses', 'sales', 'sensors', 'visits'])}-{rng.randint(2020, 2026)}",
        "x": [round(rng.uniform(0, 10), 2) for _ in range(rows)],
        "y": [round(rng.uniform(0, 100), 1) for _ in range(rows)],
        "rows": rows,
        "context": rng.choice(["training", "validation", "evaluation", "tuning"]),
    }


TASK = {"en": """\
In a run named `$run_name`, log this data as the run's input dataset:

    x = $x
    y = $y

1. put it in a pandas DataFrame with the columns `x` and `y`;
2. make a dataset of it named `$ds_name` whose target is `y`:
   `mlflow.data.from_pandas(df, name="$ds_name", targets="y")`;
3. log it with the context `$context`: `mlflow.log_input(dataset, context="$context")`.

The MLflow UI lists it under the run's "Datasets used".
""", "ja": """\
`$run_name` という名前の run を開始し、次のデータをその run の入力データセットとして記録してください。

    x = $x
    y = $y

1. 列 `x` と `y` を持つ pandas の DataFrame にします。
2. 名前 `$ds_name`、目的変数 `y` のデータセットを作ります: `mlflow.data.from_pandas(df, name="$ds_name", targets="y")`
3. コンテキスト `$context` で記録します: `mlflow.log_input(dataset, context="$context")`

MLflow UI では run の「Datasets used」に表示されます。
"""}

STUB = head(ID, "import pandas as pd\n") + '''
# TODO: in the run from TASK.md, make the DataFrame, the dataset, and log it as the run's input.
#       TASK.md の run で、DataFrame とデータセットを作り、run の入力として記録してください。
#   API: df = pd.DataFrame({"x": [...], "y": [...]})
#        dataset = mlflow.data.from_pandas(df, name="...", targets="y")
#        mlflow.log_input(dataset, context="...")
'''

SOLUTION = head(ID, "import pandas as pd\n") + '''
with mlflow.start_run(run_name=$run_name):
    df = pd.DataFrame({"x": $x, "y": $y})
    dataset = mlflow.data.from_pandas(df, name=$ds_name, targets="y")
    mlflow.log_input(dataset, context=$context)
'''


def _inputs(outcome, v) -> list[dict]:
    run = outcome.run_named(v["run_name"])
    return outcome.db.run_inputs(run.run_id)


def _rows(profile: str | None):
    try:
        return json.loads(profile or "{}").get("num_rows")
    except (ValueError, AttributeError):
        return None


def _dataset(outcome, v):
    found = [(i["name"], _rows(i["profile"])) for i in _inputs(outcome, v)]
    expect((v["ds_name"], v["rows"]) in found, "practice.dataset", run=v["run_name"], name=v["ds_name"],
           rows=v["rows"], found=found)


def _context(outcome, v):
    found = sorted(i["tags"].get(CONTEXT) or "" for i in _inputs(outcome, v))
    expect(v["context"] in found, "practice.dataset_context", run=v["run_name"], expected=v["context"], found=found)


CHECKS = [
    Check("dataset", {"en": "run $run_name has input dataset $ds_name with $rows rows",
                      "ja": "run $run_name の入力に $rows 行のデータセット $ds_name がある"},
          {"en": "dataset = mlflow.data.from_pandas(df, name='$ds_name', targets='y'); mlflow.log_input(dataset, context='$context') inside the run",
           "ja": "run の中で dataset = mlflow.data.from_pandas(df, name='$ds_name', targets='y') を作り、mlflow.log_input(dataset, context='$context') を呼んでください"},
          _dataset),
    Check("context", {"en": "the input's context is $context", "ja": "入力のコンテキストが $context"},
          {"en": "mlflow.log_input(dataset, context='$context')",
           "ja": "mlflow.log_input(dataset, context='$context') のように context を渡してください"},
          _context),
]

FAULTS = [
    ("dataset", [("name=$ds_name", "name='data'")]),
    ("context", [("context=$context)", "context='other')")]),
]
