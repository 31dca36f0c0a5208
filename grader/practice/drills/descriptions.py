"""Descriptions of an experiment and of a run (the tag mlflow.note.content)."""

from grader.checking import expect, shown
from grader.practice import Check
from grader.practice.helpers import head

ID = "descriptions"
TITLE = {"en": "Describe the experiment and a run (mlflow.note.content)",
         "ja": "実験と run に説明文を付ける（mlflow.note.content）"}

NOTE = "mlflow.note.content"


def values(rng):
    subject = rng.choice(["churn model", "price forecast", "demand baseline", "spam filter", "image tagger"])
    stage = rng.choice(["first sweep", "clean data", "weekly retrain", "smaller features"])
    knob = rng.choice(["learning rate", "tree depth", "batch size", "dropout"])
    return {
        "exp_note": f"{subject}: {stage} #{rng.randint(10, 99)}",
        "run_name": f"{rng.choice(['note', 'memo', 'trial'])}-{rng.randint(100, 999)}",
        "run_note": f"{rng.choice(['tried', 'compared', 'checked'])} {knob} {rng.choice(['0.1', '4', '64', '0.25'])}",
    }


TASK = {"en": """\
Give the experiment the description

    $exp_note

and start a run named `$run_name` whose description is

    $run_note

MLflow keeps a description in the tag `mlflow.note.content` (of the experiment, of the run) and shows it
in the UI. `mlflow.start_run(run_name=..., description=...)` sets a run's; `mlflow.set_experiment_tag`
sets the experiment's. The texts must match exactly (no extra spaces).
""", "ja": """\
実験と run に、それぞれ説明文を付けてください。

実験の説明文:

    $exp_note

run `$run_name`（スクリプトで開始します）に付ける説明文:

    $run_note

MLflow は説明文を、実験や run のタグ `mlflow.note.content` として保存し、UI に表示します。run の説明文は `mlflow.start_run(run_name=..., description=...)` で、実験の説明文は `mlflow.set_experiment_tag` で付けられます。説明文は一字一句そのまま書いてください（前後に空白を足しても不合格になります）。
"""}

STUB = head(ID) + '''
# TODO 1: describe the experiment (the tag mlflow.note.content).
#         実験に説明文を付けてください（タグ mlflow.note.content）。
#   API: mlflow.set_experiment_tag(key, value)

# TODO 2: start the run from TASK.md with its description.
#         TASK.md の run を、説明文付きで開始してください。
#   API: with mlflow.start_run(run_name="...", description="..."):
'''

SOLUTION = head(ID) + '''
mlflow.set_experiment_tag("mlflow.note.content", $exp_note)
with mlflow.start_run(run_name=$run_name, description=$run_note):
    pass
'''


def _experiment_note(outcome, v):
    found = outcome.experiment().tags.get(NOTE)
    expect(found == v["exp_note"], "practice.experiment_note", expected=shown(v["exp_note"]),
           found=shown(found) if found is not None else None)


def _run_note(outcome, v):
    found = outcome.run_named(v["run_name"]).tags.get(NOTE)
    expect(found == v["run_note"], "practice.run_note", run=v["run_name"], expected=shown(v["run_note"]),
           found=shown(found) if found is not None else None)


CHECKS = [
    Check("experiment_note", {"en": "the experiment's description is the one in TASK.md",
                              "ja": "実験の説明文が TASK.md のとおり"},
          {"en": "mlflow.set_experiment_tag('mlflow.note.content', text) after set_experiment",
           "ja": "set_experiment のあとで mlflow.set_experiment_tag('mlflow.note.content', text) を呼んでください"},
          _experiment_note),
    Check("run_note", {"en": "run $run_name has the description in TASK.md",
                       "ja": "run $run_name の説明文が TASK.md のとおり"},
          {"en": "mlflow.start_run(run_name='$run_name', description=text)",
           "ja": "mlflow.start_run(run_name='$run_name', description=text) を使ってください"},
          _run_note),
]

FAULTS = [
    ("experiment_note", [('mlflow.set_experiment_tag("mlflow.note.content", $exp_note)',
                          'mlflow.set_experiment_tag("description", $exp_note)')]),
    ("run_note", [("description=$run_note", "description=$run_note + ' '")]),
]
