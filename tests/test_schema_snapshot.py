"""MLflow's schema replayed from a snapshot is the schema MLflow's migration makes (grader/stack/schema.py).

Real MariaDB: one stack migrates (no snapshot yet, in a cache folder of the test's own) and records the
snapshot; a second stack replays it. Their tables (``SHOW CREATE TABLE``), rows and triggers are compared,
and MLflow's own server, which refuses a database that is not at its head revision, serves the second.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import require_local_stack

pytestmark = [pytest.mark.realstack, pytest.mark.slow]


def _contents(stack) -> dict:
    """Tables, rows and triggers of the stack's MLflow database, read as its root (over its private socket)."""
    import pymysql

    from grader.stack.local import DB_NAME

    info = stack.info
    conn = pymysql.connect(unix_socket=str(stack.workdir / "mysql" / "mysqld.sock"), user="root",
                           password=info.secrets[0], database=DB_NAME)
    found = {"tables": {}, "triggers": {}}
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            for (name,) in cur.fetchall():
                cur.execute(f"SHOW CREATE TABLE `{name}`")
                create = re.sub(r" AUTO_INCREMENT=\d+", "", cur.fetchone()[1])
                cur.execute(f"SELECT * FROM `{name}`")
                rows = sorted(json.dumps(row, default=str).replace(str(stack.workdir), "<stack>")
                              for row in cur.fetchall())
                found["tables"][name] = (create, rows)
            cur.execute("SHOW TRIGGERS")
            for row in cur.fetchall():
                found["triggers"][row[0]] = row[1:4]  # event, table, statement
    finally:
        conn.close()
    return found


def test_a_replayed_schema_is_the_migrated_one(tmp_path, monkeypatch):
    require_local_stack()
    from grader.stack import schema
    from grader.stack.base import http_ok
    from grader.stack.local import LocalStack

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    migrated = LocalStack(base_dir=tmp_path)
    migrated.start()
    try:
        snapshots = list((tmp_path / "cache" / "mlflow-handson").glob("mlflow-schema-*.json"))
        assert len(snapshots) == 1, snapshots
        first = _contents(migrated)
        assert (migrated.workdir / "migrate.log").exists(), "the first stack should have migrated"
    finally:
        migrated.stop()
    snapshot = schema.load(snapshots[0])
    assert snapshot is not None and snapshot["triggers"], "MLflow's schema has a trigger: it must be kept"

    replayed = LocalStack(base_dir=tmp_path)
    replayed.start()
    try:
        assert not (replayed.workdir / "migrate.log").exists(), "the second stack should have replayed"
        second = _contents(replayed)
        assert http_ok(replayed.info.tracking_uri + "/health")
    finally:
        replayed.stop()
    assert first["tables"].keys() == second["tables"].keys()
    for name in first["tables"]:
        assert first["tables"][name] == second["tables"][name], name
    assert first["triggers"] == second["triggers"]
    assert len(first["tables"]) > 20 and "alembic_version" in first["tables"]


def test_a_broken_snapshot_is_ignored(tmp_path, monkeypatch):
    """A snapshot cut short (a full disk) or edited is not used: the stack migrates and writes a good one."""
    require_local_stack()
    from grader.stack import schema
    from grader.stack.local import LocalStack

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    stack = LocalStack(base_dir=tmp_path)
    stack.start()
    try:
        (path,) = (tmp_path / "cache" / "mlflow-handson").glob("mlflow-schema-*.json")
    finally:
        stack.stop()
    good = path.read_text()
    path.write_text(good.replace("alembic_version", "alembic_versiom", 1))
    assert schema.load(path) is None
    again = LocalStack(base_dir=tmp_path)
    again.start()
    try:
        assert (again.workdir / "migrate.log").exists()
    finally:
        again.stop()
    assert schema.load(path) is not None and "alembic_versiom" not in path.read_text()


def test_services_started_beside_each_other_stay_in_their_boxes(tmp_path):
    """MinIO starts while the database and the schema do. Its process must come from the stack's own thread:
    bubblewrap's --die-with-parent fires when the *thread* that started it ends (seen: MinIO killed, restarted
    by the watchdog, and the first one left running, adopted by init). Seconds after the start every recorded
    service is still the one running; after stop nothing of the stack runs."""
    require_local_stack()
    import time

    import psutil

    from grader.stack.local import LocalStack

    stack = LocalStack(base_dir=tmp_path)
    info = stack.start()
    try:
        time.sleep(3)
        for name, pid in info.pids.items():
            assert psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE, name
        assert stack.info.pids == info.pids
    finally:
        stack.stop()
    left = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(str(stack.workdir) in part for part in proc.info["cmdline"] or []):
            left.append((proc.pid, " ".join(proc.info["cmdline"])[:120]))
    assert not left, left
