"""Readers of what really landed: the tracking database (SQLAlchemy Core) and the artifact store.

The database is read through the grader's read-only account (or a read-only SQLite handle); MySQL,
MariaDB and SQLite share the same queries. Objects are read with the ``minio`` SDK, or from the
artifact folder for ``embedded``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse

import sqlalchemy as sa

from grader.stack.base import StackInfo

# What the grader reads of one learner's work at most (a script could log millions of rows or gigabytes:
# the checks must stay fast and small whatever it did). More rows than this fail the check that reads
# them, with the limit named; an object is read up to MAX_OBJECT_BYTES + 1 bytes (which differs from any
# expected content) and a listing stops after MAX_KEYS keys.
MAX_ROWS = 50_000
MAX_OBJECT_BYTES = 8 * 1024 * 1024
MAX_KEYS = 10_000


def _bounded(rows, what: str) -> list:
    """At most MAX_ROWS rows of a query result, or the learner is told there were more."""
    found = []
    for row in rows:
        if len(found) >= MAX_ROWS:
            from grader.checking import CheckFailed

            raise CheckFailed("store.too_many", what=what, limit=MAX_ROWS)
        found.append(row)
    return found

# Lightweight table handles: the dialect quotes reserved words such as MySQL's ``key``.
_T = {
    "experiments": sa.table("experiments", *map(sa.column, (
        "experiment_id", "name", "artifact_location", "lifecycle_stage", "creation_time"))),
    "experiment_tags": sa.table("experiment_tags", sa.column("key"), sa.column("value"), sa.column("experiment_id")),
    "runs": sa.table("runs", *map(sa.column, (
        "run_uuid", "name", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri",
        "experiment_id"))),
    "tags": sa.table("tags", sa.column("key"), sa.column("value"), sa.column("run_uuid")),
    "params": sa.table("params", sa.column("key"), sa.column("value"), sa.column("run_uuid")),
    "metrics": sa.table("metrics", *map(sa.column, ("key", "value", "step", "timestamp", "run_uuid"))),
    "latest_metrics": sa.table("latest_metrics", *map(sa.column, ("key", "value", "step", "run_uuid"))),
    "registered_models": sa.table("registered_models", sa.column("name"), sa.column("creation_time")),
    "model_versions": sa.table("model_versions", *map(sa.column, (
        "name", "version", "run_id", "source", "storage_location", "current_stage", "status"))),
    # what the practice drills read besides (MLflow 3.17: tracking/dbmodels, model_registry/dbmodels)
    "registered_model_tags": sa.table("registered_model_tags", sa.column("name"), sa.column("key"), sa.column("value")),
    "model_version_tags": sa.table("model_version_tags", *map(sa.column, ("name", "version", "key", "value"))),
    "registered_model_aliases": sa.table("registered_model_aliases", *map(sa.column, ("name", "alias", "version"))),
    "inputs": sa.table("inputs", *map(sa.column, (
        "input_uuid", "source_type", "source_id", "destination_type", "destination_id"))),
    "input_tags": sa.table("input_tags", sa.column("input_uuid"), sa.column("name"), sa.column("value")),
    "datasets": sa.table("datasets", *map(sa.column, (
        "dataset_uuid", "name", "digest", "dataset_source_type", "dataset_schema", "dataset_profile"))),
}


@dataclasses.dataclass
class Run:
    run_id: str
    name: str | None
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str | None
    tags: dict = dataclasses.field(default_factory=dict)
    params: dict = dataclasses.field(default_factory=dict)
    # key -> [(step, value)] in logging order
    metrics: dict = dataclasses.field(default_factory=lambda: defaultdict(list))
    # key -> (value, step)
    latest: dict = dataclasses.field(default_factory=dict)

    @property
    def parent_id(self) -> str | None:
        return self.tags.get("mlflow.parentRunId")


@dataclasses.dataclass
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str
    artifact_location: str | None
    creation_time: int | None
    tags: dict
    runs: list  # [Run], in start order


@dataclasses.dataclass
class ModelVersion:
    name: str
    version: int
    run_id: str | None
    source: str | None
    storage_location: str | None


# Every read has a deadline: a stopped (SIGSTOP) or wedged database must become an error, never a hang.
DB_CONNECT_TIMEOUT, DB_READ_TIMEOUT = 5, 30


def connect_args(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"timeout": DB_READ_TIMEOUT}
    if "pymysql" in url:
        return {"connect_timeout": DB_CONNECT_TIMEOUT, "read_timeout": DB_READ_TIMEOUT,
                "write_timeout": DB_READ_TIMEOUT}
    return {}


class TrackingDB:
    def __init__(self, url: str):
        self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=2,
                                       connect_args=connect_args(url))
        # Health probes answer within seconds, whatever the reads' own deadline.
        quick = {k: min(v, 3) for k, v in connect_args(url).items()}
        self._probe_engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=quick)

    def close(self) -> None:
        self.engine.dispose()
        self._probe_engine.dispose()

    def ping(self) -> None:
        with self._probe_engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def table_names(self) -> set[str]:
        return set(sa.inspect(self.engine).get_table_names())

    def experiments_named(self, name: str, load_runs: bool = True) -> list[Experiment]:
        e, et = _T["experiments"], _T["experiment_tags"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(e).where(e.c.name == name)).all()
            found = []
            for row in rows:
                tags = dict(conn.execute(sa.select(et.c.key, et.c.value).where(
                    et.c.experiment_id == row.experiment_id)).all())
                runs = self._runs(conn, row.experiment_id) if load_runs else []
                found.append(Experiment(str(row.experiment_id), row.name, row.lifecycle_stage,
                                        row.artifact_location, row.creation_time, tags, runs))
        # Never let a collation decide equality: compare exactly here.
        return [x for x in found if x.name == name]

    def _runs(self, conn, experiment_id) -> list[Run]:
        r = _T["runs"]
        runs = {row.run_uuid: Run(row.run_uuid, row.name, row.status, row.start_time, row.end_time,
                                  row.lifecycle_stage, row.artifact_uri)
                for row in _bounded(conn.execute(sa.select(r).where(r.c.experiment_id == experiment_id)
                                                 .order_by(r.c.start_time, r.c.run_uuid).limit(MAX_ROWS + 1)), "runs")}
        if not runs:
            return []
        ids = list(runs)
        for name in ("tags", "params"):
            t = _T[name]
            for row in _bounded(conn.execute(sa.select(t.c.run_uuid, t.c.key, t.c.value).where(
                    t.c.run_uuid.in_(ids)).limit(MAX_ROWS + 1)), name):
                getattr(runs[row.run_uuid], name)[row.key] = row.value
        m = _T["metrics"]
        for row in _bounded(conn.execute(sa.select(m.c.run_uuid, m.c.key, m.c.value, m.c.step).where(
                m.c.run_uuid.in_(ids)).order_by(m.c.run_uuid, m.c.key, m.c.timestamp, m.c.step).limit(MAX_ROWS + 1)),
                "metrics"):
            runs[row.run_uuid].metrics[row.key].append((int(row.step), float(row.value)))
        lm = _T["latest_metrics"]
        for row in _bounded(conn.execute(sa.select(lm.c.run_uuid, lm.c.key, lm.c.value, lm.c.step).where(
                lm.c.run_uuid.in_(ids)).limit(MAX_ROWS + 1)), "latest_metrics"):
            runs[row.run_uuid].latest[row.key] = (float(row.value), int(row.step))
        return list(runs.values())

    def experiments_between(self, since_ms: int, until_ms: int) -> list[tuple[str, str]]:
        """(id, name) of experiments created in that window."""
        e = _T["experiments"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(e.c.experiment_id, e.c.name).where(
                e.c.creation_time.between(since_ms, until_ms))).all()
        return sorted((str(r.experiment_id), r.name) for r in rows)

    def run_experiments_between(self, since_ms: int, until_ms: int) -> list[tuple[str, str]]:
        """(id, name) of the experiments holding runs started in that window."""
        e, r = _T["experiments"], _T["runs"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(e.c.experiment_id, e.c.name).distinct()
                                .join(r, r.c.experiment_id == e.c.experiment_id)
                                .where(r.c.start_time.between(since_ms, until_ms))).all()
        return sorted((str(row.experiment_id), row.name) for row in rows)

    def location_key(self, uri: str | None) -> str | None:
        """The store key prefix behind a model version's location: ``mlflow-artifacts:/…`` directly,
        ``runs:/<run>/<path>`` through the run's artifact root, ``models:/<model id>`` through the
        logged model's artifact location."""
        if not uri:
            return None
        parsed = urlparse(uri)
        if parsed.scheme == "runs":
            run_id, _, path = parsed.path.strip("/").partition("/")
            r = _T["runs"]
            with self.engine.connect() as conn:
                root = conn.execute(sa.select(r.c.artifact_uri).where(r.c.run_uuid == run_id)).scalar()
            base = artifact_key(root)
            return f"{base}/{path}".rstrip("/") if base else None
        if parsed.scheme == "models" and parsed.path.strip("/").startswith("m-"):
            lm = sa.table("logged_models", sa.column("model_id"), sa.column("artifact_location"))
            with self.engine.connect() as conn:
                location = conn.execute(sa.select(lm.c.artifact_location).where(
                    lm.c.model_id == parsed.path.strip("/"))).scalar()
            return artifact_key(location)
        return artifact_key(uri)

    def model_versions(self, name: str) -> list[ModelVersion]:
        mv = _T["model_versions"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(mv).where(mv.c.name == name).order_by(mv.c.version)).all()
        return [ModelVersion(r.name, int(r.version), r.run_id, r.source, r.storage_location)
                for r in rows if r.name == name]

    def registered_models_between(self, since_ms: int, until_ms: int) -> list[str]:
        rm = _T["registered_models"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(rm.c.name).where(rm.c.creation_time.between(since_ms, until_ms))).all()
        return sorted(r.name for r in rows)

    def registered_model_exists(self, name: str) -> bool:
        rm = _T["registered_models"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(rm.c.name).where(rm.c.name == name)).all()
        return any(r.name == name for r in rows)

    # -- read by the practice drills ---------------------------------------------------------------
    def registered_model_tags(self, name: str) -> dict:
        t = _T["registered_model_tags"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.name, t.c.key, t.c.value).where(t.c.name == name)).all()
        return {r.key: r.value for r in rows if r.name == name}

    def model_version_tags(self, name: str) -> dict[int, dict]:
        """version -> {key: value}"""
        t = _T["model_version_tags"]
        out: dict[int, dict] = defaultdict(dict)
        with self.engine.connect() as conn:
            for r in conn.execute(sa.select(t.c.name, t.c.version, t.c.key, t.c.value).where(t.c.name == name)):
                if r.name == name:
                    out[int(r.version)][r.key] = r.value
        return dict(out)

    def model_aliases(self, name: str) -> dict[str, int]:
        t = _T["registered_model_aliases"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.name, t.c.alias, t.c.version).where(t.c.name == name)).all()
        return {r.alias: int(r.version) for r in rows if r.name == name}

    def run_inputs(self, run_id: str) -> list[dict]:
        """The datasets logged as the run's inputs: name, digest, source type, schema, profile and the
        input's tags (``mlflow.data.context``)."""
        i, it, d = _T["inputs"], _T["input_tags"], _T["datasets"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(i.c.input_uuid, d.c.name, d.c.digest, d.c.dataset_source_type,
                                          d.c.dataset_schema, d.c.dataset_profile)
                                .join(d, d.c.dataset_uuid == i.c.source_id)
                                .where(i.c.destination_type == "RUN", i.c.destination_id == run_id,
                                       i.c.source_type == "DATASET")).all()
            found = []
            for r in rows:
                tags = dict(conn.execute(sa.select(it.c.name, it.c.value).where(it.c.input_uuid == r.input_uuid)).all())
                found.append({"name": r.name, "digest": r.digest, "source_type": r.dataset_source_type,
                              "schema": r.dataset_schema, "profile": r.dataset_profile, "tags": tags})
        return found


class AuthDB:
    """The basic-auth app's own database, read-only: who holds MANAGE on an experiment or registered model
    (creators get it; nobody else does unless an owner or the admin grants it)."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url, connect_args=connect_args(url), poolclass=sa.pool.NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def owners(self, resource_type: str, resource_id: str) -> set[str]:
        query = sa.text(
            "SELECT u.username FROM users u JOIN user_role_assignments a ON a.user_id = u.id "
            "JOIN role_permissions p ON p.role_id = a.role_id "
            "WHERE p.resource_type = :kind AND p.resource_pattern = :id AND p.permission = 'MANAGE'")
        with self.engine.connect() as conn:
            return set(conn.execute(query, {"kind": resource_type, "id": str(resource_id)}).scalars())


def artifact_key(uri: str | None) -> str | None:
    """``mlflow-artifacts:/1/abc/artifacts`` -> ``1/abc/artifacts`` (the key prefix in the store)."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme != "mlflow-artifacts":
        return None
    return parsed.path.strip("/")


class ObjectStore:
    """The artifact store: a MinIO bucket, or a folder for ``embedded``."""

    def __init__(self, info: StackInfo):
        self.info = info
        self.client = None
        if info.bucket:
            from minio import Minio

            import urllib3

            # Few retries: a dead MinIO must be reported at once, not after the SDK's long back-off.
            http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=3, read=30),
                                       retries=urllib3.Retry(total=1, backoff_factor=0.2))
            self.client = Minio(info.s3_endpoint, access_key=info.s3_access_key, secret_key=info.s3_secret_key,
                                secure=False, http_client=http)

    @property
    def label(self) -> str:
        return self.info.artifact_store_label

    def ready(self) -> bool:
        return self.bucket_exists()

    def bucket_exists(self) -> bool:
        if self.client is not None:
            return self.client.bucket_exists(self.info.bucket)
        return Path(self.info.artifact_dir).is_dir()

    def keys(self, prefix: str) -> list[str]:
        prefix = prefix.strip("/") + "/"
        if self.client is not None:
            found = (o.object_name for o in self.client.list_objects(self.info.bucket, prefix=prefix, recursive=True))
        else:
            root = Path(self.info.artifact_dir)
            base = root / prefix
            if not base.is_dir():
                return []
            found = (str(p.relative_to(root)) for p in base.rglob("*") if p.is_file())
        return sorted(itertools.islice(found, MAX_KEYS))

    def get(self, key: str) -> bytes | None:
        if self.client is not None:
            from minio.error import S3Error

            try:
                resp = self.client.get_object(self.info.bucket, key, length=MAX_OBJECT_BYTES + 1)
            except S3Error as e:
                if e.code in ("NoSuchKey", "NoSuchBucket"):
                    return None
                if e.code == "InvalidRange":  # an empty object has no first byte to start a range at
                    return b""
                raise
            try:
                return resp.read(MAX_OBJECT_BYTES + 1)
            finally:
                resp.close()
                resp.release_conn()
        path = Path(self.info.artifact_dir) / key
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            return f.read(MAX_OBJECT_BYTES + 1)
