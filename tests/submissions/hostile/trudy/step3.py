"""Hostile step 3: starve the MLflow server with wrong passwords (each used to cost a slow password hash
on its event loop), enumerate users, look for other learners' logins, and ask for the object store's own
(presigned) URLs to go around the server."""
import base64
import json
import os
import threading
import urllib.error
import urllib.request

from _common import attempt, finish

URI = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
ME = os.environ.get("MLFLOW_TRACKING_USERNAME") or "me"


def answer(path, user, password, method="GET", body=None, raw=None):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    data = raw if raw is not None else json.dumps(body).encode() if body else None
    req = urllib.request.Request(URI + path, method=method, data=data,
                                 headers={"Authorization": "Basic " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except OSError:
        return None, b""


def status(path, user, password, method="GET", body=None):
    return answer(path, user, password, method, body)[0]


@attempt("get presigned URLs of the object store")
def presigned():
    me = (ME, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    code, body = answer("/api/2.0/mlflow/experiments/create", *me, "POST", {"name": os.environ["HANDSON_EXPERIMENT"]})
    experiment = json.loads(body)["experiment_id"]
    code, body = answer("/api/2.0/mlflow/runs/create", *me, "POST", {"experiment_id": experiment})
    run = json.loads(body)["run"]["info"]["run_id"]
    path = f"{experiment}/{run}/artifacts/note.txt"
    code, _ = answer(f"/api/2.0/mlflow-artifacts/artifacts/{path}", *me, "PUT", raw=b"hello")
    assert code == 200, f"upload through the server answered {code}"
    tries = {"presigned GET": answer(f"/api/2.0/mlflow-artifacts/presigned/{path}", *me),
             "presigned-download-url": answer("/api/2.0/mlflow/artifacts/presigned-download-url", *me, "POST",
                                              {"run_id": run, "path": "note.txt"}),
             "multipart create": answer(f"/api/2.0/mlflow-artifacts/mpu/create/{experiment}/{run}/artifacts/big.bin",
                                        *me, "POST", {"path": "big.bin", "num_parts": 1})}
    return [f"{what}: {body[:80]!r}" for what, (code, body) in tries.items() if code == 200]


@attempt("list the server's users")
def users():
    return [p for p in ("/api/2.0/mlflow/users/list", "/ajax-api/2.0/mlflow/users/list",
                        "/api/2.0/mlflow/users/get?username=handson-grader")
            if status(p, ME, os.environ.get("MLFLOW_TRACKING_PASSWORD", "")) == 200]


@attempt("flood the server with wrong passwords")
def flood():
    names = ["handson-grader", ME] + [f"nobody{i}" for i in range(50)]
    answers = []

    def worker(offset):
        for i in range(60):
            answers.append(status("/api/2.0/mlflow/experiments/search?max_results=1", names[(offset + i) % len(names)],
                                  f"wrong-{i}", method="GET"))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The flood "succeeds" if a wrong password was ever let in; whether it starved the server is what the
    # test reads from the stack's restart log and the honest learners' points.
    return [a for a in answers if a == 200]


finish()
