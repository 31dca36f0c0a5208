"""Start ``mlflow server`` as a child process (local and embedded backends share this)."""

from __future__ import annotations

import sys
from pathlib import Path

import subprocess

from grader import sandbox
from grader.stack.base import ServiceProcess, StackError, http_ok, service_env, tail_of


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
) -> ServiceProcess:
    """``workdir`` is the server's own folder (its HOME, auth config and database); with ``uid`` it runs as
    that service user, writing only ``workdir`` (see sandbox.service_argv)."""
    env = service_env(HOME=str(workdir), **(extra_env or {}))
    # The job runner (about eight worker processes) is not needed for grading and slows the start.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    # The store URI holds the read-write DB password: through the environment (readable by this user
    # only), not the command line (readable by every user of the machine through ps).
    env["MLFLOW_BACKEND_STORE_URI"] = backend_store_uri
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--artifacts-destination", artifacts_destination,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(WORKERS),
    ]
    if auth is not None:
        env.update(auth.server_env())
        argv += ["--app-name", "basic-auth"]
    if uid is not None:
        argv = sandbox.service_argv(uid, argv, [workdir])
    server = ServiceProcess("mlflow", argv, log or workdir / "mlflow.log", env=env, cwd=workdir,
                            port=port).start()
    try:
        server.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/health"), timeout, "GET /health answered 200")
    except BaseException:
        server.stop()
        raise
    return server
