"""``docker`` backend: pytest-docker over ``docker-compose.yml`` (MySQL 8.4, MinIO, MLflow image).

pytest-docker's executor runs the compose commands; the start is wrapped here so that a failed
``up`` still runs ``down -v`` and reports the failing service with its log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import port_for

from grader.stack.base import StackError, StackInfo, http_ok

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Defaults of docker-compose.yml; the compose file reads the same variables.
DB_RO_USER, DB_RO_PASSWORD = "grader", "grader-readonly"
MINIO_USER, MINIO_PASSWORD = "minioadmin", "minioadmin"
BUCKET = "mlflow"


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class DockerStack:
    name = "docker"

    def __init__(self, ports: dict | None = None, timeout: float = 300.0, **_ignored):
        from pytest_docker.plugin import DockerComposeExecutor

        self.ports = {name: (ports or {}).get(name) or port_for.select_random() for name in ("mlflow", "mysql", "minio")}
        self.project = f"handson{uuid.uuid4().hex[:8]}"
        self.timeout = timeout
        for name, port in self.ports.items():
            os.environ[f"HANDSON_{name.upper()}_PORT"] = str(port)
        self.compose = DockerComposeExecutor("docker compose", str(COMPOSE_FILE), self.project)

    def start(self) -> StackInfo:
        try:
            self.compose.execute(f"up --build --wait --wait-timeout {int(self.timeout)}")
        except BaseException as e:
            logs = self._logs()
            self.stop()
            raise StackError("docker compose", f"'up' failed: {e}", tail=logs) from e
        info = StackInfo(
            backend="docker",
            tracking_uri=f"http://127.0.0.1:{self.ports['mlflow']}",
            db_url=f"mysql+pymysql://{DB_RO_USER}:{DB_RO_PASSWORD}@127.0.0.1:{self.ports['mysql']}/mlflow",
            s3_endpoint=f"127.0.0.1:{self.ports['minio']}",
            s3_access_key=MINIO_USER,
            s3_secret_key=MINIO_PASSWORD,
            bucket=BUCKET,
            logs={"docker compose": f"docker compose -p {self.project} logs"},
        )
        if not http_ok(info.tracking_uri + "/health"):
            logs = self._logs()
            self.stop()
            raise StackError("mlflow", "healthy in compose but /health does not answer on the host", tail=logs)
        return info

    def _logs(self) -> str:
        try:
            return self.compose.execute("logs --tail 30", ignore_stderr=True).decode("utf-8", "replace")
        except Exception as e:  # the logs are a courtesy on the failure path; never hide the real error
            return f"(docker compose logs failed: {e})"

    def stop(self) -> None:
        try:
            self.compose.execute("down -v --remove-orphans")
        except Exception as e:
            raise StackError("docker compose", f"'down' failed: {e}") from e
