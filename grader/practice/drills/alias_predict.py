"""A registered model version with an alias, loaded by models:/name@alias to predict."""

from grader.checking import expect, shown
from grader.practice import Check
from grader.practice.helpers import head, printed

ID = "alias_predict"
TITLE = {"en": "Give a model version an alias and predict through models:/name@alias",
         "ja": "登録モデルのバージョンにエイリアスを付け、models:/名前@エイリアス で読み込んで予測する"}


def values(rng):
    slope = rng.choice([-1, 1]) * rng.randint(2, 9)
    intercept = rng.randint(-20, 20)
    xs = [0, 1, 2, 3, 4, 5]
    query = rng.randint(10, 99)
    return {"xs": xs, "ys": [slope * x + intercept for x in xs], "query": query,
            "alias": rng.choice(["champion", "prod", "stable", "live"]),
            "prediction": float(slope * query + intercept)}


TASK = {"en": """\
1. Fit `sklearn.linear_model.LinearRegression()` on x = `$xs` (one feature) and y = `$ys`, and log it in
   a run with `mlflow.sklearn.log_model(model, name="model")`.
2. Register it under the name in the environment variable `HANDSON_MODEL_NAME`
   (`mlflow.register_model(model_info.model_uri, name)`).
3. Give that version the alias `$alias` (`MlflowClient().set_registered_model_alias(name, alias, version)`).
4. Load the model back **by its alias**, `mlflow.pyfunc.load_model(f"models:/{name}@$alias")`, predict for
   x = `$query` and print the result on a line of its own as `prediction: <value>`.
""", "ja": """\
1. `sklearn.linear_model.LinearRegression()` を x = `$xs`（特徴量 1 つ）、y = `$ys` で学習し、run の中で `mlflow.sklearn.log_model(model, name="model")` で記録します。
2. 環境変数 `HANDSON_MODEL_NAME` の名前で登録します（`mlflow.register_model(model_info.model_uri, name)`）。
3. そのバージョンにエイリアス `$alias` を付けます（`MlflowClient().set_registered_model_alias(name, alias, version)`）。
4. **エイリアスで**モデルを読み込み（`mlflow.pyfunc.load_model(f"models:/{name}@$alias")`）、x = `$query` の予測値を求めて、`prediction: <値>` の形で 1 行に print します。
"""}

_IMPORTS = '''import mlflow.sklearn
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression
'''

_NAME = '''
name = os.environ.get("HANDSON_MODEL_NAME", "practice-alias_predict-model")
'''

STUB = head(ID, _IMPORTS) + _NAME + '''
# TODO 1: fit the model on the values from TASK.md and log it in a run.
#         TASK.md の値でモデルを学習し、run の中で記録してください。
#   API: model = LinearRegression().fit(np.array(xs, dtype=float).reshape(-1, 1), ys)
#        with mlflow.start_run():
#            model_info = mlflow.sklearn.log_model(model, name="model")

# TODO 2: register it and give the version its alias.
#         登録し、そのバージョンにエイリアスを付けてください。
#   API: version = mlflow.register_model(model_info.model_uri, name)
#        MlflowClient().set_registered_model_alias(name, alias, version.version)

# TODO 3: load it by its alias, predict, print "prediction: <value>".
#         エイリアスで読み込んで予測し、"prediction: <値>" と print してください。
#   API: loaded = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
#        loaded.predict(np.array([[x]], dtype=float))
'''

SOLUTION = head(ID, _IMPORTS) + _NAME + '''
ALIAS = $alias

model = LinearRegression().fit(np.array($xs, dtype=float).reshape(-1, 1), $ys)
with mlflow.start_run():
    model_info = mlflow.sklearn.log_model(model, name="model")
version = mlflow.register_model(model_info.model_uri, name)
MlflowClient().set_registered_model_alias(name, ALIAS, version.version)

loaded = mlflow.pyfunc.load_model(f"models:/{name}@{ALIAS}")
prediction = loaded.predict(np.array([[$query]], dtype=float))
print("prediction:", float(prediction[0]))
'''


def _alias(outcome, v):
    versions = [mv.version for mv in outcome.model_versions()]
    found = outcome.db.model_aliases(outcome.model_name)
    expect(versions, "practice.alias_no_version", model=outcome.model_name, alias=v["alias"])
    expect(found.get(v["alias"]) in versions, "practice.alias", model=outcome.model_name, alias=v["alias"],
           versions=versions, found=found)


def _prediction(outcome, v):
    found = printed(outcome, "prediction")
    expect(found is not None, "practice.prediction_missing", expected=v["prediction"])
    try:
        ok = abs(float(found) - v["prediction"]) <= 1e-6 * max(1.0, abs(v["prediction"]))
    except (TypeError, ValueError):
        ok = False
    # quoted, so that an empty value (a bare "prediction:") shows as ''
    expect(ok, "practice.prediction", expected=v["prediction"], found=shown(found))


CHECKS = [
    Check("alias", {"en": "alias $alias points at a version of the registered model",
                    "ja": "エイリアス $alias が登録モデルのバージョンを指している"},
          {"en": "MlflowClient().set_registered_model_alias(name, '$alias', version.version) after register_model",
           "ja": "register_model のあとで MlflowClient().set_registered_model_alias(name, '$alias', version.version) を呼んでください"},
          _alias),
    Check("prediction", {"en": "the script printed the model's prediction for x = $query",
                         "ja": "x = $query に対するモデルの予測値を print している"},
          {"en": "loaded = mlflow.pyfunc.load_model(f'models:/{name}@$alias'); print('prediction:', float(loaded.predict(np.array([[$query]], dtype=float))[0]))",
           "ja": "loaded = mlflow.pyfunc.load_model(f'models:/{name}@$alias') で読み込み、print('prediction:', float(loaded.predict(np.array([[$query]], dtype=float))[0])) としてください"},
          _prediction),
]

FAULTS = [
    ("alias", [("ALIAS = $alias", "ALIAS = 'backup'")]),
    ("prediction", [("np.array([[$query]], dtype=float)", "np.array([[$query + 1]], dtype=float)")]),
]
