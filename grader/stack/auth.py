"""MLflow's own access control for the stacks the grader starts: the basic-auth app.

``default_permission = NO_PERMISSIONS``: a user sees and changes only what it created (creators get
MANAGE). The grader is the admin; each learner gets an MLflow user of its own per grading run, handed
to its scripts as MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (mlflow reads them itself).

Servers the grader runs itself (local, embedded) also load the grader's guard (server_guard/: a keyed
fast password hash, a per-user limit on wrong logins, refusal of script-chosen artifact locations and of
``users/*`` for learners), from a copy in the stack's own folder, so the server never reads the checkout.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from grader.stack.base import StackError, StackInfo

ADMIN_USER = "handson-grader"
# Seconds a checked (user, password) pair stays valid in the server's cache; users never change
# password during a grading run.
CACHE_TTL = 600
MLFLOW_AUTH_FUNCTION = "mlflow.server.auth:authenticate_request_basic_auth"
GUARD_AUTH_FUNCTION = "handson_guard:authenticate"
GUARD_SOURCE = Path(__file__).resolve().parent / "server_guard"


@dataclasses.dataclass(frozen=True)
class AuthSetup:
    config_path: Path
    admin_user: str
    admin_password: str
    db_path: Path
    flask_secret: str
    # the guard's folder (on the server's PYTHONPATH) and the key of its password hash; None: MLflow's own
    guard_dir: Path | None = None
    hash_key: str | None = None

    @property
    def db_url_readonly(self) -> str:
        return f"sqlite:///file:{self.db_path}?mode=ro&uri=true"

    def server_env(self) -> dict:
        env = {"MLFLOW_AUTH_CONFIG_PATH": str(self.config_path), "MLFLOW_FLASK_SERVER_SECRET_KEY": self.flask_secret}
        if self.guard_dir is not None:
            env.update(PYTHONPATH=str(self.guard_dir), HANDSON_HASH_KEY=self.hash_key)
        return env

    @property
    def secrets(self) -> list[str]:
        return [v for v in (self.admin_password, self.flask_secret, self.hash_key) if v]


def install_guard(folder: Path) -> Path:
    """Copy the server-side guard into ``folder`` (the stack's own), so the server needs nothing of the checkout."""
    folder.mkdir(mode=0o755, exist_ok=True)
    for source in GUARD_SOURCE.glob("*.py"):
        shutil.copyfile(source, folder / source.name)
        (folder / source.name).chmod(0o644)
    return folder


def auth_setup(workdir: Path, seen_as: Path | None = None, guard: bool = False) -> AuthSetup:
    """Write the auth app's config (owner-only, in the stack's private folder) with a fresh admin.
    ``seen_as``: where the server sees ``workdir`` (a container's mount point), if not at the same path.
    ``guard``: load the grader's guard into the server (servers the grader runs as processes of its own)."""
    setup = AuthSetup(workdir / "basic_auth.ini", ADMIN_USER, secrets.token_urlsafe(24), workdir / "basic_auth.db",
                      secrets.token_hex(24), install_guard(workdir / "guard") if guard else None,
                      secrets.token_hex(32) if guard else None)
    server_db = (seen_as or workdir) / setup.db_path.name
    setup.config_path.touch(mode=0o600)
    setup.config_path.write_text(ini_text(f"sqlite:///{server_db}", setup.admin_user, setup.admin_password,
                                          GUARD_AUTH_FUNCTION if guard else MLFLOW_AUTH_FUNCTION))
    return setup


def ini_text(database_uri: str, admin_user: str, admin_password: str,
             authorization_function: str = MLFLOW_AUTH_FUNCTION) -> str:
    """The auth app's config: nobody may do anything they did not create; the grader is the admin."""
    return "\n".join([
        "[mlflow]",
        "default_permission = NO_PERMISSIONS",
        f"database_uri = {database_uri}",
        f"admin_username = {admin_user}",
        f"admin_password = {admin_password}",
        f"authorization_function = {authorization_function}",
        f"auth_cache_ttl_seconds = {CACHE_TTL}",
        "",
    ])


def verify_server(info: StackInfo) -> None:
    """Refuse to send a login to whatever listens on the MLflow port unless it runs as this stack's MLflow
    service user (a script could bind the port while MLflow restarts). Stacks without service users are
    not checked: there, nothing separates a script from the grader anyway (README, threat model)."""
    uid = info.service_uids.get("mlflow")
    if uid is None:
        return
    from urllib.parse import urlsplit

    from grader.stack.base import port_user

    port = urlsplit(info.tracking_uri).port
    found = port_user(port)
    if found != uid:
        raise StackError("mlflow", f"the process listening on port {port} is not this stack's MLflow server "
                         f"(uid {found}, expected {uid}); the grader sent it no credentials", info.logs.get("mlflow"))


def _request(info: StackInfo, path: str, payload: dict | None = None, method: str = "POST",
             user: tuple[str, str] | None = None) -> dict:
    user = user or (info.admin_user, info.admin_password)
    verify_server(info)
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
    if info.admin_user:
        verify_server(info)
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
