"""Resume a run by its id and add to it."""

from grader.checking import AtStep, expect, fail
from grader.practice import Check
from grader.practice.helpers import head

ID = "resume_run"
TITLE = {"en": "Resume a run by its id and log more to it",
         "ja": "ID を指定して run を再開し、記録を追加する"}


def values(rng):
    return {
        "run_name": f"{rng.choice(['base', 'warm', 'long', 'night'])}-{rng.randint(100, 999)}",
        "param": rng.choice(["batch_size", "epochs", "layers"]),
        "param_value": str(rng.choice([16, 32, 64, 128])),
        "metric": rng.choice(["val_loss", "val_acc", "score"]),
        "value": round(rng.uniform(0.1, 0.9), 4),
        "step": rng.randint(2, 9),
    }


TASK = {"en": """\
The given `setup()` logs a run named `$run_name` with param `$param` = `$param_value`, ends it and returns
its id. Resume **that same run** by its id (do not start a new one) and log the metric `$metric` = `$value`
at step `$step` to it.

- `mlflow.start_run(run_id=run_id)` reopens an existing run; a `with` block ends it again.
""", "ja": """\
用意済みの `setup()` は run `$run_name` を作ってパラメータ `$param` = `$param_value` を記録し、run を終了してからその ID を返します。

この**同じ run** を ID で再開し（新しい run は作りません）、メトリクス `$metric` = `$value` を step `$step` で追加してください。

- `mlflow.start_run(run_id=run_id)` で既存の run を再開できます。`with` ブロックを抜けると、run はまた終了します。
"""}

_SETUP = '''

def setup():
    """Given: a run ended early; returns its id. Leave it as it is. / 途中で終わった run（変更しないでください）"""
    with mlflow.start_run(run_name=$run_name) as run:
        mlflow.log_param($param, $param_value)
    return run.info.run_id


run_id = setup()
'''

STUB = head(ID) + _SETUP + '''
# TODO: resume the run with this id (no new run) and log the metric from TASK.md at its step.
#       この ID の run を再開し（新しい run は作らない）、TASK.md のメトリクスを指定の step で記録してください。
#   API: with mlflow.start_run(run_id=run_id):
#            mlflow.log_metric(key, value, step=N)
'''

SOLUTION = head(ID) + _SETUP + '''
with mlflow.start_run(run_id=run_id):
    mlflow.log_metric($metric, $value, step=$step)
'''


def _given(outcome, v):
    """The run setup() logged — the one the task names. Both checks are about it alone: when it lacks the
    metric and another run of the script holds it, a new run was made instead, and both say so alike
    (a run that merely has the same name is not the task's run)."""
    outcome.experiment()
    named = outcome.runs_named(v["run_name"])
    given = [r for r in named if r.params.get(v["param"]) == v["param_value"]]
    if len(given) != 1:
        fail("practice.given_run", run=v["run_name"], param=v["param"], value=v["param_value"], count=len(given))
    run = given[0]
    others = [r for r in outcome.runs() if r.run_id != run.run_id and r.lifecycle_stage == "active"]
    if v["metric"] not in run.metrics and others:
        fail("practice.new_run", run_id=run.run_id, run=v["run_name"], metric=v["metric"],
             found=sorted(r.run_id for r in others))
    return run


def _resumed(outcome, v):
    run = _given(outcome, v)
    expect(v["metric"] in run.metrics, "practice.not_resumed", run=v["run_name"], run_id=run.run_id,
           metric=v["metric"])


def _metric(outcome, v):
    run = _given(outcome, v)
    history = [AtStep(value, step) for step, value in run.metrics.get(v["metric"], [])]
    expected = [AtStep(v["value"], v["step"])]
    if history != expected:
        fail("practice.metric_history", run=v["run_name"], metric=v["metric"], expected=expected,
             found=history or None)


CHECKS = [
    Check("resumed", {"en": "the given run $run_name itself holds metric $metric (resumed, not a new run)",
                      "ja": "用意された run $run_name そのものにメトリクス $metric がある（新しい run ではなく再開）"},
          {"en": "with mlflow.start_run(run_id=run_id): reopens the run setup() returned",
           "ja": "with mlflow.start_run(run_id=run_id): で setup() が返した run を再開してください"},
          _resumed),
    Check("metric", {"en": "run $run_name logged $metric = $value at step $step",
                     "ja": "run $run_name に $metric = $value が step $step で記録されている"},
          {"en": "inside the run: mlflow.log_metric('$metric', $value, step=$step)",
           "ja": "run の中で mlflow.log_metric('$metric', $value, step=$step) を呼んでください"},
          _metric),
]

FAULTS = [
    # A new run of the same name, not the given one: both checks are about the given run, so both fail.
    ("resumed", [("with mlflow.start_run(run_id=run_id):", "with mlflow.start_run(run_name=$run_name):")], ("metric",)),
    ("metric", [("step=$step)", "step=0)")]),
]
