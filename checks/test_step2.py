"""Step 2 — a run with a tag, params and metrics with steps, all rows in the tracking database."""

from grader.checking import AtStep, expect, same_number
from grader.plugin import check

RUN = "SampleA"
HISTORY = {"mse": [(0, 100.0), (1, 150.0)], "rmse": [(0, 50.0), (1, 120.0)]}


@check("step2.experiment")
def test_experiment(step):
    step.experiment(active_only=True)


@check("step2.run")
def test_run(step):
    step.expect_finished(step.run_named(RUN))


@check("step2.tag")
def test_tag(step):
    run = step.run_named(RUN)
    expect(run.tags.get("tagA") == "hoge", "run.tag", name=RUN, key="tagA", value="hoge",
           tags={k: v for k, v in run.tags.items() if not k.startswith("mlflow.")})


def expect_params(step, wanted: dict):
    run = step.run_named(RUN)
    for key, value in wanted.items():
        expect(run.params.get(key) == value, "run.param", name=RUN, key=key, value=value, params=run.params)


@check("step2.param")
def test_param(step):
    expect_params(step, {"Dence": "128"})


@check("step2.params")
def test_params(step):
    expect_params(step, {"Dropout": "0.1", "Activation": "relu"})


@check("step2.metric_history")
def test_metric_history(step):
    run = step.run_named(RUN)
    for key, wanted in HISTORY.items():
        found = sorted(run.metrics.get(key, []))
        ok = len(found) == len(wanted) and all(
            fs == ws and same_number(fv, wv) for (fs, fv), (ws, wv) in zip(found, wanted))
        expect(ok, "metric.history", name=RUN, key=key, expected=[AtStep(v, s) for s, v in wanted],
               found=[AtStep(v, s) for s, v in found])


@check("step2.latest_metrics")
def test_latest_metrics(step):
    run = step.run_named(RUN)
    for key, history in HISTORY.items():
        step_no, value = history[-1]
        found = run.latest.get(key)
        ok = found is not None and same_number(found[0], value) and found[1] == step_no
        expect(ok, "metric.latest", name=RUN, key=key, value=value, step=step_no,
               found=AtStep(*found) if found else None)
