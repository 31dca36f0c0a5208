"""MLflow's own access control for the stacks the grader starts: the basic-auth app.

``default_permission = NO_PERMISSIONS``: a user sees and changes only what it created (creators get
MANAGE). The grader is the admin; each learner gets an MLflow user of its own per grading run, handed
to its scripts as MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (mlflow reads them itself).
Credential checks are PBKDF2, so the app's credential cache is on.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path

from grader.stack.base import StackError, StackInfo

ADMIN_USER = "handson-grader"
# Seconds a checked (user, password) pair stays valid in the server's cache; users never change
# password during a grading run.
CACHE_TTL = 600


@dataclasses.dataclass(frozen=True)
class AuthSetup:
    config_path: Path
    admin_user: str
    admin_password: str
    db_path: Path
    flask_secret: str

    @property
    def db_url_readonly(self) -> str:
        return f"sqlite:///file:{self.db_path}?mode=ro&uri=true"

    def server_env(self) -> dict:
        return {"MLFLOW_AUTH_CONFIG_PATH": str(self.config_path), "MLFLOW_FLASK_SERVER_SECRET_KEY": self.flask_secret}


def auth_setup(workdir: Path, seen_as: Path | None = None) -> AuthSetup:
    """Write the auth app's config (owner-only, in the stack's private folder) with a fresh admin.
    ``seen_as``: where the server sees ``workdir`` (a container's mount point), if not at the same path."""
    setup = AuthSetup(workdir / "basic_auth.ini", ADMIN_USER, secrets.token_urlsafe(24), workdir / "basic_auth.db",
                      secrets.token_hex(24))
    server_db = (seen_as or workdir) / setup.db_path.name
    setup.config_path.touch(mode=0o600)
    setup.config_path.write_text(ini_text(f"sqlite:///{server_db}", setup.admin_user, setup.admin_password))
    return setup


def ini_text(database_uri: str, admin_user: str, admin_password: str) -> str:
    """The auth app's config: nobody may do anything they did not create; the grader is the admin."""
    return "\n".join([
        "[mlflow]",
        "default_permission = NO_PERMISSIONS",
        f"database_uri = {database_uri}",
        f"admin_username = {admin_user}",
        f"admin_password = {admin_password}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        f"auth_cache_ttl_seconds = {CACHE_TTL}",
        "",
    ])


def _request(info: StackInfo, path: str, payload: dict | None = None, method: str = "POST",
             user: tuple[str, str] | None = None) -> dict:
    user = user or (info.admin_user, info.admin_password)
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(info.tracking_uri.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **auth_header(*user)})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read()
    return json.loads(body) if body else {}


def auth_header(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def admin_header(info: StackInfo) -> dict:
    """Headers for the grader's own reads through the tracking server (empty without access control)."""
    return auth_header(info.admin_user, info.admin_password) if info.admin_user else {}


def create_user(info: StackInfo, user: str, password: str) -> None:
    try:
        _request(info, "/api/2.0/mlflow/users/create", {"username": user, "password": password})
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")[:300]
        raise StackError("mlflow", f"creating the MLflow user {user!r} failed: HTTP {e.code} {detail}",
                         info.logs.get("mlflow")) from e
    except (urllib.error.URLError, OSError) as e:
        raise StackError("mlflow", f"creating the MLflow user {user!r} failed: {e}", info.logs.get("mlflow")) from e
