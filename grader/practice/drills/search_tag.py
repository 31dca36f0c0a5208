"""Search runs with a filter string and tag the one that matches."""

from grader.checking import expect, shown
from grader.practice import Check
from grader.practice.helpers import head

ID = "search_tag"
TITLE = {"en": "Search runs with a filter string and tag the match",
         "ja": "フィルタ文字列で run を検索し、該当する run にタグを付ける"}


def values(rng):
    metric = rng.choice(["acc", "f1", "auc", "recall"])
    param = rng.choice(["optimizer", "solver", "backend"])
    wanted, other, third = rng.sample(["adam", "sgd", "lbfgs", "rmsprop", "adagrad"], 3)
    threshold = round(rng.uniform(0.6, 0.8), 2)

    def above():
        return round(threshold + rng.uniform(0.01, 0.15), 3)

    def below():
        return round(threshold - rng.uniform(0.01, 0.3), 3)

    # One run matches both halves of the filter; the others match one half at most.
    rows = [(wanted, above()), (other, above()), (wanted, below()), (third, below()), (rng.choice([other, third]), above())]
    rng.shuffle(rows)
    prefix = rng.choice(["trial", "probe", "cand", "try"])
    names = [f"{prefix}-{n}" for n in rng.sample(range(10, 99), len(rows))]
    setup = [(name, p, m) for name, (p, m) in zip(names, rows)]
    match = next(name for name, p, m in setup if p == wanted and m > threshold)
    return {
        "metric": metric, "param": param, "setup": setup, "match": match,
        "filter": f"metrics.{metric} > {threshold} and params.{param} = '{wanted}'",
        "tag_key": rng.choice(["selected", "picked", "winner", "review"]),
        "tag_value": f"{rng.choice(['yes', 'ok', 'keep'])}-{rng.randint(100, 999)}",
    }


TASK = {"en": """\
The script first logs five runs (the given `setup()`; leave it as it is). Each has a param `$param` and a
metric `$metric`. Find, with MLflow's search, the run that matches this filter string:

    $filter

and tag **that run only** with `$tag_key` = `$tag_value`.

- `mlflow.search_runs(filter_string=...)` returns a pandas DataFrame; its column `run_id` holds the ids.
- `MlflowClient().set_tag(run_id, key, value)` tags a run that is not the active one.
""", "ja": """\
スクリプトは最初に、用意済みの `setup()` で run を 5 件記録します（`setup()` は変更しないでください）。どの run にも、パラメータ `$param` とメトリクス `$metric` が記録されています。

この 5 件の中から、次のフィルタ文字列に一致する run を MLflow の検索機能で見つけてください。

    $filter

見つけた run **だけ**に、タグ `$tag_key` = `$tag_value` を付けます。

- `mlflow.search_runs(filter_string=...)` は結果を pandas の DataFrame で返します。run の ID は `run_id` 列に入っています。
- `with` ブロックで開いている run 以外の run にタグを付けるときは、`MlflowClient().set_tag(run_id, key, value)` を使います。
"""}

_SETUP = '''
SETUP = $setup  # (run name, param value, metric value)


def setup():
    """Given: the runs to search. Leave it as it is. / 検索対象の run（変更しないでください）"""
    for name, value, score in SETUP:
        with mlflow.start_run(run_name=name):
            mlflow.log_param($param, value)
            mlflow.log_metric($metric, score)


setup()
'''

STUB = head(ID, "from mlflow import MlflowClient\n") + _SETUP + '''
# TODO 1: find the run that matches the filter string in TASK.md.
#         TASK.md のフィルタ文字列に合う run を探してください。
#   API: runs = mlflow.search_runs(filter_string="...")      # a DataFrame; runs["run_id"]

# TODO 2: tag that run, and only that run, as TASK.md says.
#         その run だけに、TASK.md のとおりタグを付けてください。
#   API: MlflowClient().set_tag(run_id, key, value)
'''

SOLUTION = head(ID, "from mlflow import MlflowClient\n") + _SETUP + '''
found = mlflow.search_runs(filter_string=$filter)
for run_id in found["run_id"]:
    MlflowClient().set_tag(run_id, $tag_key, $tag_value)
'''


def _tagged(outcome, v):
    run = outcome.run_named(v["match"])
    found = run.tags.get(v["tag_key"])
    expect(found == v["tag_value"], "practice.tag", run=v["match"], key=v["tag_key"], expected=v["tag_value"],
           found=found if found is None else shown(found))  # '' and trailing spaces visible


def _only_match(outcome, v):
    outcome.experiment()
    tagged = sorted(r.name for r in outcome.runs() if v["tag_key"] in r.tags)
    expect(tagged == [v["match"]], "practice.tag_only", key=v["tag_key"], expected=[v["match"]], found=tagged)


CHECKS = [
    Check("tagged", {"en": "the run matching the filter has tag $tag_key = $tag_value",
                     "ja": "フィルタに合う run にタグ $tag_key = $tag_value が付いている"},
          {"en": "runs = mlflow.search_runs(filter_string=\"$filter\"), then MlflowClient().set_tag(run_id, '$tag_key', '$tag_value') for its run_id",
           "ja": "runs = mlflow.search_runs(filter_string=\"$filter\") で探し、見つかった run の run_id を渡して MlflowClient().set_tag(run_id, '$tag_key', '$tag_value') を呼んでください"},
          _tagged),
    Check("only_match", {"en": "no other run carries tag $tag_key",
                         "ja": "ほかの run にはタグ $tag_key が付いていない"},
          {"en": "pass both conditions of the filter string to search_runs, so only one run comes back",
           "ja": "フィルタ文字列の 2 つの条件を両方 search_runs に渡すと、返る run は 1 件だけになります"},
          _only_match),
]

FAULTS = [
    ("tagged", [("MlflowClient().set_tag(run_id, $tag_key, $tag_value)", "MlflowClient().set_tag(run_id, $tag_key, 'no')")]),
    ("only_match", [("mlflow.search_runs(filter_string=$filter)", "mlflow.search_runs()")]),
]
