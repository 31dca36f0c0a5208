"""Start MLflow's server as a child process (local and embedded backends share this).

Not through the ``mlflow server`` command: that process imports MLflow (seconds of CPU), prepares the
databases, then starts uvicorn, whose workers import MLflow again; it then stays, idle, as a parent of
~300 MB. We start uvicorn ourselves with the command and the environment ``mlflow server`` would hand it
(``server_launch``; tests/test_mlflow_launch.py compares both with what the installed MLflow's CLI builds,
so an MLflow upgrade that changes them fails a test). What the CLI process does to the databases before
uvicorn starts (create the SQLite tables, migrate the access-control database) comes from a cached copy
of those empty, migrated SQLite files (``sqlite_templates``); the admin user is created by the workers
themselves, MLflow's own path when ``_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED`` is not set.

Nor does any process touch the tracking database before the workers answer: the CLI opened its store (and
failed on an unreachable one) before uvicorn started, while uvicorn's workers open it at their first request
that needs it, and answer ``/health`` without it. So "ready" is ``store_answers``: ``/health``, then a
request that reads the store (``STORE_PROBE``), with the admin's login where access control is on.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import subprocess

from grader import sandbox
from grader.stack.auth import auth_header
from grader.stack.base import ServiceProcess, StackError, cache_dir, http_ok, service_env, tail_of


# Two web workers: one slow request (a large upload) does not hold up /health and the other scripts.
WORKERS = 2


def migrate_schema(admin_url: str, workdir: Path, timeout: float = 300.0) -> None:
    """Create MLflow's tables with the migration account, so the server's own account needs row rights only."""
    log = workdir / "migrate.log"
    code = ("import os, sys; from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore; "
            "SqlAlchemyStore(os.environ['HANDSON_MIGRATE_URL'], sys.argv[1])")
    with open(log, "ab") as out:
        try:
            done = subprocess.run([sys.executable, "-c", code, str(workdir / "unused-artifacts")], stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout, cwd=workdir,
                                  env=service_env(HANDSON_MIGRATE_URL=admin_url))
        except subprocess.TimeoutExpired as e:
            raise StackError("mysql", f"creating MLflow's tables took more than {timeout:.0f} s", log) from e
    if done.returncode != 0:
        raise StackError("mysql", f"creating MLflow's tables failed (exit {done.returncode})", log, tail_of(log))


# mlflow/server/__init__.py _run_server: the uvicorn app, and the "basic-auth" entry point of group mlflow.app
FASTAPI_APP = "mlflow.server.fastapi_app:app"
BASIC_AUTH_APP = "mlflow.server.auth:create_app"  # a factory: uvicorn --factory


def server_launch(port: int, backend_store_uri: str, artifacts_destination: str, basic_auth: bool,
                  flask_secret: str | None = None, workers: int = WORKERS) -> tuple[list[str], dict]:
    """The uvicorn command and the environment that ``mlflow server --artifacts-destination D --host
    127.0.0.1 --port P --workers W [--app-name basic-auth]`` (backend store URI and secret key from the
    environment) would give it: mlflow/cli ``server`` and mlflow/server ``_run_server``, MLflow 3.17.
    One deliberate difference: no ``_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED`` (no CLI process bootstrapped the
    admin user; each worker does, as ``create_app`` does without it)."""
    mlflow_dir = Path(importlib.util.find_spec("mlflow").origin).parent  # finds the package, imports nothing
    argv = [sys.executable, "-m", "uvicorn", "--log-config", str(mlflow_dir / "server" / "uvicorn_log_config.yaml"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    argv += ["--factory", BASIC_AUTH_APP] if basic_auth else [FASTAPI_APP]
    env = {
        # set in its own environment by the CLI (defaults of --x-frame-options and --enable-workspaces)
        "MLFLOW_SERVER_X_FRAME_OPTIONS": "SAMEORIGIN",
        "MLFLOW_ENABLE_WORKSPACES": "false",
        # _run_server's env_map
        "_MLFLOW_SERVER_FILE_STORE": backend_store_uri,
        "_MLFLOW_SERVER_REGISTRY_STORE": backend_store_uri,  # no --registry-store-uri: the backend's
        "_MLFLOW_SERVER_ARTIFACT_ROOT": "mlflow-artifacts:/",  # --serve-artifacts (the default) without a root
        "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
        "_MLFLOW_SERVER_ARTIFACT_DESTINATION": artifacts_destination,
        "MLFLOW_SERVER_SECRETS_CACHE_TTL": "60",  # the defaults of --secrets-cache-ttl / -max-size
        "MLFLOW_SERVER_SECRETS_CACHE_MAX_SIZE": "1000",
        "_MLFLOW_SERVER_BOOT_ID": uuid.uuid4().hex,
        "_MLFLOW_IN_JOB_EXECUTOR": "false",
        "_MLFLOW_SGI_NAME": "uvicorn",
    }
    if flask_secret:
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = flask_secret
    return argv, env


_TEMPLATE_CODE = """
import sys
from pathlib import Path
folder = Path(sys.argv[1])
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore as AuthStore
AuthStore().init_db(f"sqlite:///{folder / 'basic_auth.db'}")
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", "mlflow-artifacts:/")
"""


def sqlite_templates(log: Path, timeout: float = 300.0) -> Path:
    """A folder with MLflow's two SQLite databases as ``mlflow server`` leaves them before its workers start,
    with no user yet: ``mlflow.db`` (tracking and registry tables, the Default experiment) and
    ``basic_auth.db`` (the access control's tables). Made once per MLflow version, then copied (milliseconds)."""
    folder = cache_dir() / f"mlflow-sqlite-{importlib.metadata.version('mlflow')}"
    if (folder / ".complete").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="mlflow-sqlite-", dir=folder.parent))
    try:
        with open(log, "ab") as out:
            done = subprocess.run([sys.executable, "-c", _TEMPLATE_CODE, str(staging)], stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout,
                                  cwd=staging, env=service_env(HOME=str(staging)))
        if done.returncode != 0:
            raise StackError("mlflow", f"creating MLflow's SQLite tables failed (exit {done.returncode})", log,
                             tail_of(log))
        (staging / ".complete").touch()
        try:
            staging.rename(folder)
        except OSError:  # another stack made it meanwhile
            pass
    except subprocess.TimeoutExpired as e:
        raise StackError("mlflow", f"creating MLflow's SQLite tables took more than {timeout:.0f} s", log) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _seed_sqlite(path: Path, template: Path) -> None:
    """``path`` as MLflow's CLI would have created it before its workers start (unless it exists already)."""
    if not path.exists():
        shutil.copyfile(template, path)
        path.chmod(0o600)


# A read that needs the backend store: the Default experiment, which every MLflow tracking store has (the
# server's first store access creates it; the API cannot remove it for good, and a deleted one still answers).
# One indexed row: cheap enough to poll.
STORE_PROBE = "/api/2.0/mlflow/experiments/get?experiment_id=0"
# Seconds the store read may take: a worker's first one opens the store (an engine, MLflow's schema check),
# slow on a loaded machine; an unreachable database holds it much longer (MLflow retries the connection).
STORE_PROBE_TIMEOUT = 10.0


def store_answers(port: int, auth=None, timeout: float = STORE_PROBE_TIMEOUT) -> bool:
    """MLflow's readiness: ``GET /health`` answers 200 (uvicorn's workers are up), then ``STORE_PROBE`` does
    (the tracking store is reachable and at MLflow's schema). ``auth``: the stack's ``AuthSetup``, whose admin
    may read any experiment; None without access control (no credentials sent). The caller makes sure the
    port's listener is this server (``ServiceProcess.wait_ready`` checks it first) before a login goes there."""
    base = f"http://127.0.0.1:{port}"
    if not http_ok(base + "/health"):
        return False
    # A 500 (no store) or a 401 is not ready either.
    headers = auth_header(auth.admin_user, auth.admin_password) if auth is not None else {}
    return http_ok(base + STORE_PROBE, timeout, headers)


def start_mlflow_server(
    workdir: Path,
    port: int,
    backend_store_uri: str,
    artifacts_destination: str,
    extra_env: dict | None = None,
    timeout: float = 120.0,
    auth=None,
    log: Path | None = None,
    uid: int | None = None,
    wait: bool = True,
) -> ServiceProcess:
    """``workdir`` is the server's own folder (its HOME, auth config and database); with ``uid`` it runs as
    that service user, writing only ``workdir`` (see sandbox.service_argv). ``wait=False`` returns as soon as
    the process is started, before its workers import MLflow: the caller may start the databases meanwhile
    (nothing opens the tracking store before the first request that reads it), then calls
    ``await_mlflow_server``."""
    log = log or workdir / "mlflow.log"
    env = service_env(HOME=str(workdir), **(extra_env or {}))
    # The job runner (about eight worker processes) is not needed for grading and slows the start.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    # The store URI holds the read-write DB password: through the environment (readable by this user
    # only), not the command line (readable by every user of the machine through ps).
    env["MLFLOW_BACKEND_STORE_URI"] = backend_store_uri
    if auth is not None:
        env.update(auth.server_env())
    argv, launch_env = server_launch(port, backend_store_uri, artifacts_destination, auth is not None,
                                     env.get("MLFLOW_FLASK_SERVER_SECRET_KEY"))
    env.update(launch_env)
    sqlite_db = backend_store_uri.startswith("sqlite:///")
    if sqlite_db or auth is not None:
        templates = sqlite_templates(log)
        if sqlite_db:
            _seed_sqlite(Path(backend_store_uri[len("sqlite:///"):]), templates / "mlflow.db")
        if auth is not None:
            _seed_sqlite(auth.db_path, templates / "basic_auth.db")
    if uid is not None:
        argv = sandbox.service_argv(uid, argv, [workdir])
    server = ServiceProcess("mlflow", argv, log, env=env, cwd=workdir, port=port).start()
    # Starts and restarts (the watchdog's) wait until the store answers, as the CLI's own store access made
    # them; the watchdog's probe of a running server stays /health: a database outage is the database's own
    # probe's to find, and restarting MLflow would not heal it.
    server.ready, server.what = (lambda: store_answers(port, auth)), f"GET {STORE_PROBE} answered 200"
    server.live = lambda: server.holds_port() and http_ok(f"http://127.0.0.1:{port}/health")
    if wait:
        await_mlflow_server(server, timeout)
    return server


def await_mlflow_server(server: ServiceProcess, timeout: float) -> None:
    """Wait until a server from ``start_mlflow_server`` reads its store; stop it if it never does."""
    try:
        server.wait_ready(server.ready, timeout, server.what)
    except BaseException:
        server.stop()
        raise
