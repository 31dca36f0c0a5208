"""One grading run: its id, its learners, its stack, and each learner's script results.

Under pytest-xdist the controller owns the stack (started once, at the first worker's configuration)
and a shared work folder; workers receive both through ``workerinput``. Each (learner, step) script
runs once per grading run: a file lock and a JSON result in the work folder make that hold across
workers too.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import secrets
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from filelock import FileLock

from grader.config import GraderConfig
from grader.runner import ScriptResult, run_script
from grader.stack import StackError, StackInfo, choose, make_backend
from grader.stack.base import http_ok


@dataclasses.dataclass(frozen=True)
class Learner:
    id: str
    path: Path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "learner"


def find_learners(cfg: GraderConfig) -> list[Learner]:
    if cfg.submissions:
        folders = sorted(p for p in cfg.submissions.iterdir()
                         if p.is_dir() and not p.name.startswith((".", "_")))
        learners = [Learner(_safe(p.name), p) for p in folders]
        if cfg.shard:
            index, total = cfg.shard
            learners = learners[index - 1::total]
        return learners
    return [Learner(_safe(cfg.submission.name), cfg.submission)]


@dataclasses.dataclass
class StackFacts:
    uri: str
    health: int | None
    ui: int | None
    tables: set
    bucket_exists: bool
    store: str


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


class GradingSession:
    def __init__(self, cfg: GraderConfig, workerinput: dict | None = None):
        self.cfg = cfg
        self.is_worker = workerinput is not None
        if workerinput:
            self.run_id = workerinput["handson_run_id"]
            self.workdir = Path(workerinput["handson_workdir"])
            self.backend_name, self.backend_reason = workerinput["handson_backend"]
            self._info = StackInfo.from_json(workerinput["handson_stack"]) if workerinput.get("handson_stack") else None
            self._error = workerinput.get("handson_stack_error")
            self._error_service = workerinput.get("handson_stack_error_service") or "stack"
        else:
            self.run_id = datetime.datetime.now().strftime("%m%d-%H%M%S-") + secrets.token_hex(2)
            self.workdir = Path(tempfile.mkdtemp(prefix="handson-grading-"))
            self.backend_name, self.backend_reason = choose(cfg.stack)
            self._info = None
            self._error = None
            self._error_service = "stack"
        self._backend = None
        self._dead: StackError | None = None
        self._db = None
        self._objects = None
        self.learners = find_learners(cfg)

    # -- the stack ---------------------------------------------------------------------------------
    def stack(self) -> StackInfo:
        """The running stack, started on first use; a failed start is remembered and re-raised."""
        if self._info is None and self._error is None:
            if self.is_worker:
                raise StackError("grader", "no stack was handed to this worker")
            try:
                self._backend = make_backend(self.backend_name, ports=self.cfg.ports, timeout=self.cfg.stack_timeout)
                self._info = self._backend.start()
            except StackError as e:
                self._error, self._error_service = e.describe(), e.service
        if self._error is not None:
            raise _Reported(self._error, self._error_service)
        return self._info

    def tracking_uri(self) -> str | None:
        """The stack's MLflow URL if one was started or handed over (never starts one)."""
        return self._info.tracking_uri if self._info else None

    def stop(self) -> None:
        if self._db is not None:
            self._db.close()
        if self._backend is not None:
            self._backend.stop()
            self._backend = None
        if not self.is_worker:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def readers(self):
        from grader.store import ObjectStore, TrackingDB

        info = self.stack()
        if self._db is None:
            self._db = TrackingDB(info.db_url)
            self._objects = ObjectStore(info)
        return self._db, self._objects

    def ensure_healthy(self) -> None:
        """Raise StackError naming the first service that stopped answering. A service found dead
        stays dead for this grading run: later checks fail fast instead of waiting on retries."""
        if self._dead is not None:
            raise _Reported(self._dead.describe(), self._dead.service)
        try:
            self._probe()
        except StackError as e:
            self._dead = e
            raise

    def _probe(self) -> None:
        info = self.stack()
        db, objects = self.readers()
        health = info.tracking_uri.rstrip("/") + "/health"
        if not (http_ok(health, timeout=5) or (time.sleep(1.0) or http_ok(health, timeout=10))):
            raise StackError("mlflow", f"{info.tracking_uri}/health stopped answering", info.logs.get("mlflow"))
        try:
            db.ping()
        except Exception as e:
            raise StackError("mysql" if info.bucket else "sqlite", f"the tracking database stopped answering: "
                             f"{str(e).splitlines()[0][:200]}", info.logs.get("mysql")) from e
        try:
            ok = objects.ready()
        except Exception as e:
            ok, cause = False, str(e).splitlines()[0][:200]
        else:
            cause = "the artifact bucket is gone"
        if not ok:
            raise StackError("minio" if info.bucket else "artifacts", f"the artifact store stopped answering: {cause}",
                             info.logs.get("minio"))

    def stack_facts(self) -> StackFacts:
        info = self.stack()
        if info.backend != "external":
            # A stack the grader started and that died is the grader's failure; an external stack
            # (the learner's own docker compose) is what step 1 grades.
            self.ensure_healthy()
        db, objects = self.readers()
        base = info.tracking_uri.rstrip("/")
        try:
            tables = db.table_names()
        except Exception as e:
            raise StackError("mysql", f"cannot list the tracking tables: {str(e).splitlines()[0][:200]}",
                             info.logs.get("mysql")) from e
        return StackFacts(uri=base, health=_status(base + "/health"), ui=_status(base + "/"), tables=tables,
                          bucket_exists=objects.bucket_exists(), store=objects.label)

    # -- names the scripts receive -------------------------------------------------------------------
    def experiment_name(self, learner: Learner, step: str) -> str:
        return f"handson-{self.run_id}-{learner.id}-{step}"

    def model_name(self, learner: Learner) -> str:
        return f"handson-model-{self.run_id}-{learner.id}"

    # -- scripts -------------------------------------------------------------------------------------
    def script_result(self, learner: Learner, step: str) -> ScriptResult:
        path = self.workdir / f"{learner.id}.{step}.json"
        with FileLock(str(path) + ".lock"):
            if path.exists():
                return ScriptResult.from_dict(json.loads(path.read_text()))
            self.ensure_healthy()
            result = run_script(learner.path, f"{step}.py", self.stack(), self.experiment_name(learner, step),
                                self.cfg.data_dir, self.model_name(learner), self.cfg.submission_timeout)
            if not result.ok and result.exists:
                # A script that failed because the stack went away is the stack's failure, not the learner's.
                self.ensure_healthy()
            path.write_text(json.dumps(result.to_dict()))
            return result

    def outcome(self, learner: Learner, step: str):
        from grader.checking import StepOutcome

        script = self.script_result(learner, step)
        db, objects = self.readers()
        return StepOutcome(learner=learner.id, step=step, submission=learner.path, data_dir=self.cfg.data_dir,
                           script=script, experiment_name=self.experiment_name(learner, step),
                           model_name=self.model_name(learner), stack=self.stack(), db=db, objects=objects)

    def workerinput(self) -> dict:
        """What the controller hands each xdist worker (the stack starts here, once)."""
        try:
            info = self.stack()
        except StackError:
            info = None
        return {
            "handson_run_id": self.run_id,
            "handson_workdir": str(self.workdir),
            "handson_backend": [self.backend_name, self.backend_reason],
            "handson_stack": info.to_json() if info else None,
            "handson_stack_error": self._error,
            "handson_stack_error_service": self._error_service,
        }


class _Reported(StackError):
    """A stack failure already described once (carried from the controller or an earlier attempt)."""

    def __init__(self, text: str, service: str = "stack"):
        Exception.__init__(self, text)
        self.text = text
        self.service = service

    def describe(self) -> str:
        return self.text

