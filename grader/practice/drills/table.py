"""A table logged with log_table."""

from grader.checking import expect, fail, same_number
from grader.practice import Check, Plain
from grader.practice.helpers import head, object_text

ID = "table"
TITLE = {"en": "Log a table (log_table)", "ja": "表を記録する（log_table）"}


def values(rng):
    names = [rng.choice(["city", "model", "team"]), rng.choice(["rank", "count", "level"]),
             rng.choice(["score", "ratio", "weight"])]
    rows = rng.randint(3, 5)
    labels = rng.sample(["oak", "pine", "elm", "ash", "fir", "yew", "lime"], rows)
    data = {names[0]: labels, names[1]: rng.sample(range(1, 20), rows),
            names[2]: [round(rng.uniform(0, 10), 2) for _ in range(rows)]}
    return {"run_name": f"{rng.choice(['table', 'grid', 'rows'])}-{rng.randint(100, 999)}",
            "table_path": f"tables/{rng.choice(['scores', 'results', 'eval'])}-{rng.randint(1, 99)}.json",
            "data": data, "columns": Plain(names), "rows": [list(r) for r in zip(*data.values())]}


TASK = {"en": """\
In a run named `$run_name`, log this table (columns in this order) at `$table_path`:

    TABLE = $data

`mlflow.log_table(data=TABLE, artifact_file="$table_path")` stores it as JSON with its columns and rows
(and the MLflow UI shows it in the run's artifacts).
""", "ja": """\
`$run_name` という名前の run を開始し、その中で次の表（列はこの順）を `$table_path` に記録してください。

    TABLE = $data

`mlflow.log_table(data=TABLE, artifact_file="$table_path")` は表を列と行の JSON として保存します（MLflow UI では run のアーティファクトに表示されます）。
"""}

STUB = head(ID) + '''
# TODO: in the run from TASK.md, log the table at its path.
#       TASK.md の run で、表をそのパスに記録してください。
#   API: with mlflow.start_run(run_name="..."):
#            mlflow.log_table(data=TABLE, artifact_file="tables/name.json")
'''

SOLUTION = head(ID) + '''
TABLE = $data

with mlflow.start_run(run_name=$run_name):
    mlflow.log_table(data=TABLE, artifact_file=$table_path)
'''


def _table(outcome, v) -> dict:
    import json

    text = object_text(outcome, outcome.run_named(v["run_name"]), v["table_path"])
    try:
        table = json.loads(text)
        table["columns"], table["data"]
    except (ValueError, TypeError, KeyError):
        fail("practice.not_table", path=v["table_path"])
    return table


def _columns(outcome, v):
    found = _table(outcome, v)["columns"]
    expect(found == v["columns"], "practice.table_columns", path=v["table_path"], expected=v["columns"], found=found)


def _same_row(a, b) -> bool:
    return len(a) == len(b) and all(x == y or same_number(x, y) for x, y in zip(a, b))


def _rows(outcome, v):
    found = _table(outcome, v)["data"]
    ok = len(found) == len(v["rows"]) and all(_same_row(a, b) for a, b in zip(found, v["rows"]))
    expect(ok, "practice.table_rows", path=v["table_path"], expected=[tuple(r) for r in v["rows"]],
           found=[tuple(r) if isinstance(r, list) else r for r in found])


CHECKS = [
    Check("columns", {"en": "the table at $table_path has the columns $columns, in order",
                      "ja": "$table_path の表の列が $columns（この順）"},
          {"en": "pass the dictionary as it is: mlflow.log_table(data=TABLE, artifact_file='$table_path')",
           "ja": "辞書をそのまま渡してください: mlflow.log_table(data=TABLE, artifact_file='$table_path')"},
          _columns),
    Check("rows", {"en": "the table at $table_path holds the rows from TASK.md, in order",
                   "ja": "$table_path の表の行が TASK.md のとおり（この順）"},
          {"en": "every column lists its values top to bottom; log TABLE unchanged",
           "ja": "各列の値は上の行から順に並びます。TABLE を変えずに記録してください"},
          _rows),
]

FAULTS = [
    ("columns", [("mlflow.log_table(data=TABLE,", "mlflow.log_table(data={k.upper(): v for k, v in TABLE.items()},")]),
    ("rows", [("mlflow.log_table(data=TABLE,", "mlflow.log_table(data={k: v[::-1] for k, v in TABLE.items()},")]),
]
