"""Start ``mlflow server`` as a child process (local and embedded backends share this)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.stack.base import ServiceProcess, http_ok

# Variables a grading stack's server should not inherit from the grader's shell.
_SERVER_ENV_DROP = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID")


def start_mlflow_server(
    workdir: Path,
    port: int,
    backend_store_uri: str,
    artifacts_destination: str,
    extra_env: dict | None = None,
    timeout: float = 120.0,
) -> ServiceProcess:
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_ENV_DROP}
    env.update(extra_env or {})
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
        "--workers", "1",
    ]
    server = ServiceProcess("mlflow", argv, workdir / "mlflow.log", env=env, cwd=workdir).start()
    try:
        server.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/health"), timeout, "GET /health answered 200")
    except BaseException:
        server.stop()
        raise
    return server
