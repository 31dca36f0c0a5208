"""``embedded`` backend: ``mlflow server`` on SQLite with a local artifact folder. Needs only pip."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from grader import sandbox
from grader.config import STACK_TIMEOUT
from grader.stack.auth import auth_setup
from grader.stack.base import StackInfo, guard
from grader.stack.local import free_port
from grader.stack.mlflow_server import start_mlflow_server
from grader.stack.watchdog import Watchdog


class EmbeddedStack:
    name = "embedded"

    def __init__(self, base_dir: Path | None = None, ports: dict | None = None, timeout: float = STACK_TIMEOUT,
                 access_control: bool = True):
        self.base_dir = base_dir
        self.access_control = access_control
        self.ports = ports or {}
        self.timeout = timeout
        self.server = None
        self.workdir: Path | None = None
        self.watchdog: Watchdog | None = None

    def start(self) -> StackInfo:
        self.workdir = Path(tempfile.mkdtemp(prefix="handson-embedded-", dir=self.base_dir))
        guard("+", "d", self.workdir)
        try:
            db = self.workdir / "mlflow.db"
            artifacts = self.workdir / "artifacts"
            artifacts.mkdir()
            port = free_port("mlflow", self.ports.get("mlflow"))
            auth = auth_setup(self.workdir, guard=True) if self.access_control else None
            # As root: the server runs as a fresh service uid that writes only this folder (its database,
            # artifacts and auth config); the log stays the grader's, beside it.
            uid = sandbox.service_uid()
            log = Path(str(self.workdir) + ".log")
            self.server = start_mlflow_server(self.workdir, port, f"sqlite:///{db}", str(artifacts),
                                              timeout=self.timeout, auth=auth, log=log, uid=uid)
            self.watchdog = Watchdog([self.server], self.workdir / "events.jsonl", self.timeout)
            self.watchdog.start()
            return StackInfo(
                backend="embedded",
                events_file=str(self.workdir / "events.jsonl"),
                tracking_uri=f"http://127.0.0.1:{port}",
                # SQLite has no accounts: the grader opens the file read-only instead.
                db_url=f"sqlite:///file:{db}?mode=ro&uri=true",
                artifact_dir=str(artifacts),
                logs={"mlflow": str(self.server.log)},
                pids={"mlflow": self.server.pid},
                owner_pid=os.getpid(),
                admin_user=auth.admin_user if auth else None,
                admin_password=auth.admin_password if auth else None,
                auth_db_url=auth.db_url_readonly if auth else None,
                secrets=auth.secrets if auth else [],
                service_uids={"mlflow": uid} if uid != os.getuid() else {},
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None
        if self.server:
            self.server.stop()
            self.server = None
        if self.workdir and not os.environ.get("HANDSON_KEEP_STACK_DIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)
            Path(str(self.workdir) + ".log").unlink(missing_ok=True)
        if self.workdir:
            guard("-", "d", self.workdir)
