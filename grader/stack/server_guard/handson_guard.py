"""The grader's guard inside MLflow's basic-auth app (loaded through ``authorization_function``).

Why each part exists (issue 17, found by attacking a grading stack):

* Artifact locations are the server's choice, never a script's. The server reads and writes an
  experiment's ``artifact_location`` with its own rights (``file://`` and symlinks included), so
  ``experiments/create`` with any ``artifact_location`` and ``model-versions/create`` with a ``source``
  outside the proxied store are refused here, before MLflow sees them. MLflow 3.17 has no option of its own
  for this (``--artifacts-only``/``--serve-artifacts`` do not restrict where an experiment points).
* Logins are cheap. MLflow hashes passwords with scrypt (about 0.2 s and 32 MB each): a flood of wrong
  passwords starved the server. Learner passwords are random tokens made by the grader, so a keyed
  SHA-256 (HMAC, key known only to this server and the grader) is as strong and costs microseconds; hashes
  of this form are all the grader's stacks hold. Wrong logins are limited per user name on top.
* Learners see no user list: ``users/*`` is for the admin (the grader) only.
* Bytes go through the server, never around it. With an S3 store MLflow hands clients presigned URLs of the
  object store (``presigned-*-url``, ``mlflow-artifacts/presigned``, ``mlflow-artifacts/mpu``): a script would
  then talk to MinIO itself, which its network namespace cannot reach (and should not). Those routes answer
  501, which MLflow's client, told so by ``MLFLOW_ENABLE_PROXY_MULTIPART_*=false`` in the script's
  environment (grader/runner.py), takes as "download through the server".
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import threading
import time

PREFIX = "handson-hmac$"
# Wrong logins allowed per user name within WINDOW seconds before the server answers 429 at once.
MAX_FAILURES, WINDOW = 20, 60.0
# How many user names the failure counter remembers (oldest forgotten first).
MAX_NAMES = 10_000
ARTIFACT_SOURCES = ("mlflow-artifacts:/", "runs:/", "models:/")
# Routes that hand out the object store's own URLs (presigned and multipart transfers), under /api and /ajax-api.
DIRECT_STORE_ROUTES = ("/mlflow/artifacts/presigned-", "/mlflow-artifacts/presigned/", "/mlflow-artifacts/mpu/")


def install_fast_hash(key: str) -> None:
    """Make werkzeug's password hashing the keyed fast hash (before MLflow's auth store imports it)."""
    import werkzeug.security as security

    secret = key.encode()
    original_check = security.check_password_hash

    def generate_password_hash(password: str, method: str = "", salt_length: int = 0) -> str:
        return PREFIX + hmac.new(secret, password.encode(), hashlib.sha256).hexdigest()

    def check_password_hash(pwhash: str, password: str) -> bool:
        if pwhash.startswith(PREFIX):
            return hmac.compare_digest(pwhash, generate_password_hash(password))
        return original_check(pwhash, password)

    security.generate_password_hash = generate_password_hash
    security.check_password_hash = check_password_hash


class _Failures:
    def __init__(self):
        self._lock = threading.Lock()
        self._seen: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()

    def blocked(self, name: str) -> bool:
        now = time.monotonic()
        with self._lock:
            times = self._seen.get(name)
            while times and now - times[0] > WINDOW:
                times.popleft()
            return bool(times) and len(times) >= MAX_FAILURES

    def failed(self, name: str) -> None:
        with self._lock:
            times = self._seen.pop(name, None) or collections.deque(maxlen=MAX_FAILURES)
            times.append(time.monotonic())
            self._seen[name] = times
            while len(self._seen) > MAX_NAMES:
                self._seen.popitem(last=False)


FAILURES = _Failures()


def _answer(status: int, code: str, message: str):
    from flask import Response

    return Response(json.dumps({"error_code": code, "message": message}), status=status,
                    mimetype="application/json")


def refusal(method: str, path: str, body: dict | None):
    """The answer to a request the grader's stacks never allow, or None."""
    if any(route in path for route in DIRECT_STORE_ROUTES):
        return _answer(501, "NOT_IMPLEMENTED",
                       "This grading server moves artifact bytes itself: no presigned or multipart transfers "
                       "(set MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false and MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=false).")
    if method != "POST" or not isinstance(body, dict):
        return None
    if path.endswith("/mlflow/experiments/create") and body.get("artifact_location"):
        return _answer(400, "INVALID_PARAMETER_VALUE",
                       "This grading server chooses where artifacts are stored: create the experiment without "
                       f"artifact_location (got {str(body['artifact_location'])[:200]!r}). Artifacts then go "
                       "through the server into its artifact store.")
    if path.endswith("/mlflow/model-versions/create"):
        source = str(body.get("source") or "")
        if not source.startswith(ARTIFACT_SOURCES):
            return _answer(400, "INVALID_PARAMETER_VALUE",
                           f"A model version's source must be in this server's artifact store ({', '.join(ARTIFACT_SOURCES)}…); "
                           f"got {source[:200]!r}. Register a model logged to a run of this server.")
    return None


def _admin_only(path: str) -> bool:
    return "/mlflow/users/" in path or path.rstrip("/").endswith("/signup")


def authenticate():
    """MLflow's basic-auth check, behind the grader's request filter and per-user failure limit."""
    from flask import request
    from mlflow.server import auth

    creds = request.authorization
    name = creds.username if creds is not None and creds.username else ""
    if name and FAILURES.blocked(name):
        return _answer(429, "REQUEST_LIMIT_EXCEEDED", "too many wrong passwords for this user; try again later")
    result = auth.authenticate_request_basic_auth()
    if not hasattr(result, "username"):  # a 401 response
        if name:
            FAILURES.failed(name)
        return result
    if name != auth.auth_config.admin_username and _admin_only(request.path):
        return _answer(403, "PERMISSION_DENIED", "only the grader manages users on this server")
    body = request.get_json(silent=True) if request.method == "POST" else None
    refused = refusal(request.method, request.path, body)
    return refused if refused is not None else result
