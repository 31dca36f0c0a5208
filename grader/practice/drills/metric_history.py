"""A metric history from a given series, at given steps."""

from grader.checking import AtStep, expect, same_number
from grader.practice import Check, Plain
from grader.practice.helpers import head

ID = "metric_history"
TITLE = {"en": "Log a metric history from a given series", "ja": "与えられた系列をメトリクスの履歴として記録する"}


def values(rng):
    count = rng.randint(5, 8)
    stride, start = rng.choice([5, 10, 25]), rng.randint(0, 4) * 10
    series = [round(rng.uniform(0.05, 2.0), 3) for _ in range(count)]
    if series[0] == series[-1]:
        series[-1] = round(series[-1] + 0.5, 3)
    steps = [start + i * stride for i in range(count)]
    return {
        "run_name": f"{rng.choice(['curve', 'train', 'epochs'])}-{rng.randint(100, 999)}",
        "key": rng.choice(["loss", "train_loss", "mae", "error"]),
        "steps": steps,
        "step_list": Plain(steps),  # the steps as a title writes them
        "series": series,
    }


TASK = {"en": """\
In a run named `$run_name`, log the metric `$key` as a history: the i-th value of

    VALUES = $series

at the i-th step of

    STEPS = $steps

One `mlflow.log_metric(key, value, step=...)` call per value. The MLflow UI draws it as a curve over the steps.
""", "ja": """\
`$run_name` という名前の run を開始し、その中でメトリクス `$key` の履歴を記録してください。値と step は次の 2 つのリストで与えられ、同じ位置のものが組になります（VALUES の i 番目の値を、STEPS の i 番目の step で記録します）。

    VALUES = $series
    STEPS = $steps

値 1 つにつき `mlflow.log_metric(key, value, step=...)` を 1 回呼びます。MLflow UI では、step を横軸にした曲線として表示されます。
"""}

STUB = head(ID) + '''
# TODO: in the run from TASK.md, log each value at its step.
#       TASK.md の run で、各値をその step で記録してください。
#   API: with mlflow.start_run(run_name="..."):
#            for step, value in zip(STEPS, VALUES):
#                mlflow.log_metric(key, value, step=step)
'''

SOLUTION = head(ID) + '''
STEPS = $steps
VALUES = $series

with mlflow.start_run(run_name=$run_name):
    for step, value in zip(STEPS, VALUES):
        mlflow.log_metric($key, value, step=step)
'''


def _history(outcome, v):
    return sorted(outcome.run_named(v["run_name"]).metrics.get(v["key"], []))


def _values(outcome, v):
    found = [value for _, value in _history(outcome, v)]
    ok = len(found) == len(v["series"]) and all(same_number(a, b) for a, b in zip(found, v["series"]))
    expect(ok, "practice.history_values", run=v["run_name"], key=v["key"], expected=v["series"], found=found)


def _steps(outcome, v):
    history = _history(outcome, v)
    expect([step for step, _ in history] == v["steps"], "practice.history_steps", run=v["run_name"], key=v["key"],
           expected=v["steps"], found=[AtStep(value, step) for step, value in history])


CHECKS = [
    Check("values", {"en": "metric $key holds the values of the series, in step order",
                     "ja": "メトリクス $key に系列の値が step の順に記録されている"},
          {"en": "log every value of VALUES, in its order: for step, value in zip(STEPS, VALUES): mlflow.log_metric('$key', value, step=step)",
           "ja": "VALUES の値を順番どおりすべて記録してください: for step, value in zip(STEPS, VALUES): mlflow.log_metric('$key', value, step=step)"},
          _values),
    Check("steps", {"en": "metric $key was logged at the steps $step_list",
                    "ja": "メトリクス $key が step $step_list で記録されている"},
          {"en": "pass step=step (a value of STEPS), not the position in the list",
           "ja": "step には STEPS の値を渡してください（リスト内の位置ではありません）"},
          _steps),
]

FAULTS = [
    ("values", [("zip(STEPS, VALUES)", "zip(STEPS, VALUES[::-1])")]),
    ("steps", [("mlflow.log_metric($key, value, step=step)", "mlflow.log_metric($key, value, step=STEPS.index(step))")]),
]
