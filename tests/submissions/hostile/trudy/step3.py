"""Hostile step 3: starve the MLflow server with wrong passwords (each used to cost a slow password hash
on its event loop), enumerate users, and look for other learners' logins."""
import base64
import json
import os
import threading
import urllib.error
import urllib.request

from _common import attempt, finish

URI = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
ME = os.environ.get("MLFLOW_TRACKING_USERNAME") or "me"


def status(path, user, password, method="GET", body=None):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(URI + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Basic " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


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
