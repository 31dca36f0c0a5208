"""Delete a run and restore a deleted one."""

from grader.checking import expect
from grader.practice import Check, Listed
from grader.practice.helpers import head

ID = "delete_restore"
TITLE = {"en": "Delete a run and restore a deleted one", "ja": "run を削除し、削除済みの run を復元する"}


def values(rng):
    prefix = rng.choice(["job", "fit", "pass", "batch"])
    names = [f"{prefix}-{c}" for c in rng.sample("abcdefghjkmnpq", 4)]
    active = names[:3]
    to_delete = rng.choice(active)
    return {"names": Listed(names), "to_delete": to_delete, "to_restore": names[3],
            "keep": [n for n in active if n != to_delete]}


TASK = {"en": """\
The given `setup()` logs four runs, $names, and deletes the last one. Then:

1. delete the run `$to_delete`;
2. restore the deleted run `$to_restore`.

The other runs stay as they are. Find each run by its name (`attributes.run_name = '…'` in a filter
string); deleted runs are found only when you ask for them (`run_view_type=ViewType.DELETED_ONLY`).
`MlflowClient().delete_run(run_id)` and `MlflowClient().restore_run(run_id)` do the rest.
""", "ja": """\
用意済みの `setup()` は 4 件の run（$names）を記録し、最後の 1 件を削除します。続けて、スクリプトで次の 2 つを行ってください。

1. run `$to_delete` を削除します。
2. 削除済みの run `$to_restore` を復元します。

ほかの run には手を付けないでください。run は名前で探します（フィルタ文字列 `attributes.run_name = '…'`）。削除済みの run は、検索で `run_view_type=ViewType.DELETED_ONLY` を指定したときだけ見つかります。削除は `MlflowClient().delete_run(run_id)`、復元は `MlflowClient().restore_run(run_id)` です。
"""}

_SETUP = '''
NAMES = $names


def setup():
    """Given: four runs, the last one deleted. Leave it as it is. / 4 件の run、最後の 1 件は削除済み（変更しないでください）"""
    for index, name in enumerate(NAMES):
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_param("index", index)
    MlflowClient().delete_run(run.info.run_id)


setup()
client = MlflowClient()
'''

_IMPORTS = "from mlflow import MlflowClient\nfrom mlflow.entities import ViewType\n"

STUB = head(ID, _IMPORTS) + _SETUP + '''
# TODO 1: delete the run TASK.md names (find it by its name).
#         TASK.md の run を名前で探して削除してください。
#   API: runs = mlflow.search_runs(filter_string="attributes.run_name = '...'")
#        client.delete_run(run_id)

# TODO 2: restore the deleted run TASK.md names.
#         TASK.md の削除済み run を復元してください。
#   API: mlflow.search_runs(filter_string=..., run_view_type=ViewType.DELETED_ONLY)
#        client.restore_run(run_id)
'''

SOLUTION = head(ID, _IMPORTS) + _SETUP + '''
doomed = mlflow.search_runs(filter_string="attributes.run_name = " + repr($to_delete))
for run_id in doomed["run_id"]:
    client.delete_run(run_id)
back = mlflow.search_runs(filter_string="attributes.run_name = " + repr($to_restore),
                          run_view_type=ViewType.DELETED_ONLY)
for run_id in back["run_id"]:
    client.restore_run(run_id)
'''


def _stages(outcome, v) -> dict:
    outcome.experiment()
    return {r.name: r.lifecycle_stage for r in outcome.runs() if r.name in v["names"]}


def _deleted(outcome, v):
    stages = _stages(outcome, v)
    deleted = sorted(name for name, stage in stages.items() if stage == "deleted" and name != v["to_restore"])
    expect(deleted == [v["to_delete"]], "practice.deleted_runs", expected=[v["to_delete"]], found=deleted)


def _restored(outcome, v):
    stage = _stages(outcome, v).get(v["to_restore"])
    expect(stage == "active", "practice.run_stage", run=v["to_restore"], expected="active", found=stage)


CHECKS = [
    Check("deleted", {"en": "of the first three runs, only $to_delete is deleted",
                      "ja": "最初の 3 件の run のうち、$to_delete だけが削除されている"},
          {"en": "find its id with mlflow.search_runs(filter_string=\"attributes.run_name = '$to_delete'\"), then client.delete_run(run_id)",
           "ja": "mlflow.search_runs(filter_string=\"attributes.run_name = '$to_delete'\") で ID を探し、client.delete_run(run_id) を呼んでください"},
          _deleted),
    Check("restored", {"en": "the deleted run $to_restore is active again",
                       "ja": "削除済みだった run $to_restore が再びアクティブになっている"},
          {"en": "deleted runs are searched with run_view_type=ViewType.DELETED_ONLY; then client.restore_run(run_id)",
           "ja": "削除済みの run は run_view_type=ViewType.DELETED_ONLY を付けて検索し、client.restore_run(run_id) を呼んでください"},
          _restored),
]

FAULTS = [
    ("deleted", [("repr($to_delete)", "repr($keep[0])")]),
    ("restored", [("    client.restore_run(run_id)", "    pass")]),
]
