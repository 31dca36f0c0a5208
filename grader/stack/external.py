"""``external`` backend: a stack that is already running.

Started by ``python -m grader stack up`` (which records it in the stack file), by ``docker compose up``
or by CI services (described by environment variables). Nothing is started or stopped here.
"""

from __future__ import annotations

import os
from pathlib import Path

from grader.stack.base import StackError, StackInfo, cache_dir, http_ok

# Environment variables describing a running stack (for CI services or a hand-started compose stack).
ENV_VARS = {
    "tracking_uri": "HANDSON_TRACKING_URI",
    "db_url": "HANDSON_DB_URL",
    "s3_endpoint": "HANDSON_S3_ENDPOINT",
    "s3_access_key": "HANDSON_S3_ACCESS_KEY",
    "s3_secret_key": "HANDSON_S3_SECRET_KEY",
    "bucket": "HANDSON_BUCKET",
    "artifact_dir": "HANDSON_ARTIFACT_DIR",
}


def stack_file() -> Path:
    if os.environ.get("HANDSON_STACK_FILE"):
        return Path(os.environ["HANDSON_STACK_FILE"])
    return cache_dir() / "stack.json"


def write_stack_file(info: StackInfo, path: Path | None = None) -> Path:
    """Record ``info`` in the stack file (``path``: a private one, as the grader's own serve process writes)."""
    path = path or stack_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    # It holds the grader's read-only DB password and the S3 keys: owner-only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(info.to_json())
    return path


def remove_stack_file() -> None:
    stack_file().unlink(missing_ok=True)


def recorded_stack() -> StackInfo | None:
    """The stack described by the environment, else by the stack file; None if neither."""
    if os.environ.get(ENV_VARS["tracking_uri"]) and os.environ.get(ENV_VARS["db_url"]):
        values = {field: os.environ.get(var) for field, var in ENV_VARS.items()}
        return StackInfo(backend="external", **values)
    path = stack_file()
    if path.exists():
        try:
            return StackInfo.from_json(path.read_text())
        except (ValueError, TypeError):
            return None
    return None


def compose_stack() -> StackInfo | None:
    """A hand-started ``docker compose up`` on its default ports (the hands-on as written), if it answers."""
    from grader.stack import docker

    info = StackInfo(
        backend="external",
        tracking_uri="http://127.0.0.1:5000",
        db_url=f"mysql+pymysql://{docker.DB_RO_USER}:{docker.DB_RO_PASSWORD}@127.0.0.1:3306/mlflow",
        s3_endpoint="127.0.0.1:9000",
        s3_access_key=docker.MINIO_USER,
        s3_secret_key=docker.MINIO_PASSWORD,
        bucket=docker.BUCKET,
        logs={"docker compose": "docker compose logs"},
    )
    return info if healthy(info) else None


def healthy(info: StackInfo) -> bool:
    return http_ok(info.tracking_uri.rstrip("/") + "/health")


class ExternalStack:
    name = "external"

    def __init__(self, **_ignored):
        self.info: StackInfo | None = None

    def start(self) -> StackInfo:
        info = recorded_stack() or compose_stack()
        if info is None:
            from grader.i18n import t
            from grader.stack import STARTABLE

            raise StackError("external", t("stack.no_external", path=stack_file(), backends="/".join(STARTABLE)))
        if not healthy(info):
            raise StackError("mlflow", f"{info.tracking_uri}/health does not answer 200 "
                                       f"(recorded in {stack_file()})", info.logs.get("mlflow"))
        self.info = info
        return info

    def stop(self) -> None:
        """An external stack belongs to whoever started it."""
