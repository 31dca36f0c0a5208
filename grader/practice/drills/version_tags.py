"""Tags on a registered model and on one of its versions."""

from grader.checking import expect
from grader.practice import Check
from grader.practice.helpers import head

ID = "version_tags"
TITLE = {"en": "Tag a registered model and its version", "ja": "登録モデルとそのバージョンにタグを付ける"}


def values(rng):
    people = ["aoki", "mori", "sato", "lee", "kim", "diaz"]
    return {
        "version_key": rng.choice(["validated_by", "reviewer", "approved_by"]),
        "version_value": f"{rng.choice(people)}-{rng.randint(1, 99)}",
        "model_key": rng.choice(["team", "owner", "domain"]),
        "model_value": f"{rng.choice(['pricing', 'search', 'ads', 'ops'])}-{rng.randint(1, 9)}",
    }


TASK = {"en": """\
1. Log a small model in a run (for example `LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])` with
   `mlflow.sklearn.log_model(model, name="model")`) and register it under the name in the environment
   variable `HANDSON_MODEL_NAME`.
2. Tag **the version** you registered: `$version_key` = `$version_value`
   (`MlflowClient().set_model_version_tag(name, version, key, value)`).
3. Tag **the registered model** itself: `$model_key` = `$model_value`
   (`MlflowClient().set_registered_model_tag(name, key, value)`).
""", "ja": """\
1. 小さなモデルを run の中で記録し（たとえば `LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])` を `mlflow.sklearn.log_model(model, name="model")` で）、環境変数 `HANDSON_MODEL_NAME` の名前で登録します。
2. 登録した**バージョン**にタグ `$version_key` = `$version_value` を付けます（`MlflowClient().set_model_version_tag(name, version, key, value)`）。
3. **登録モデル**そのものにタグ `$model_key` = `$model_value` を付けます（`MlflowClient().set_registered_model_tag(name, key, value)`）。
"""}

_IMPORTS = '''import mlflow.sklearn
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression
'''

_MODEL = '''
name = os.environ.get("HANDSON_MODEL_NAME", "practice-version_tags-model")
client = MlflowClient()
model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
'''

STUB = head(ID, _IMPORTS) + _MODEL + '''
# TODO 1: log the model in a run and register it under `name`.
#         run の中でモデルを記録し、`name` で登録してください。
#   API: with mlflow.start_run():
#            model_info = mlflow.sklearn.log_model(model, name="model")
#        version = mlflow.register_model(model_info.model_uri, name)

# TODO 2: tag the version, then the registered model, as TASK.md says.
#         TASK.md のとおり、バージョンと登録モデルにタグを付けてください。
#   API: client.set_model_version_tag(name, version.version, key, value)
#        client.set_registered_model_tag(name, key, value)
'''

SOLUTION = head(ID, _IMPORTS) + _MODEL + '''
with mlflow.start_run():
    model_info = mlflow.sklearn.log_model(model, name="model")
version = mlflow.register_model(model_info.model_uri, name)
client.set_model_version_tag(name, version.version, $version_key, $version_value)
client.set_registered_model_tag(name, $model_key, $model_value)
'''


def _version_tag(outcome, v):
    versions = outcome.model_versions()
    tags = outcome.db.model_version_tags(outcome.model_name)
    found = {mv.version: tags.get(mv.version, {}).get(v["version_key"]) for mv in versions}
    expect(v["version_value"] in found.values(), "practice.version_tag", model=outcome.model_name,
           key=v["version_key"], expected=v["version_value"], found=found)


def _model_tag(outcome, v):
    outcome.model_versions()
    found = outcome.db.registered_model_tags(outcome.model_name)
    expect(found.get(v["model_key"]) == v["model_value"], "practice.model_tag", model=outcome.model_name,
           key=v["model_key"], expected=v["model_value"], found=found)


CHECKS = [
    Check("version_tag", {"en": "a version of the registered model has tag $version_key = $version_value",
                          "ja": "登録モデルのバージョンにタグ $version_key = $version_value が付いている"},
          {"en": "client.set_model_version_tag(name, version.version, '$version_key', '$version_value') after register_model",
           "ja": "register_model のあとで client.set_model_version_tag(name, version.version, '$version_key', '$version_value') を呼んでください"},
          _version_tag),
    Check("model_tag", {"en": "the registered model has tag $model_key = $model_value",
                        "ja": "登録モデルにタグ $model_key = $model_value が付いている"},
          {"en": "client.set_registered_model_tag(name, '$model_key', '$model_value') (a tag of the model, not of a version)",
           "ja": "client.set_registered_model_tag(name, '$model_key', '$model_value') を呼んでください（バージョンではなくモデルのタグ）"},
          _model_tag),
]

FAULTS = [
    ("version_tag", [("client.set_model_version_tag(name, version.version, $version_key, $version_value)",
                      "client.set_model_version_tag(name, version.version, $version_key, 'nobody')")]),
    ("model_tag", [("client.set_registered_model_tag(name, $model_key, $model_value)",
                    "client.set_registered_model_tag(name, $model_key.upper(), $model_value)")]),
]
