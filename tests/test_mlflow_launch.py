"""The grader starts uvicorn itself, as ``mlflow server`` would (grader/stack/mlflow_server.py ``server_launch``).

These tests run the installed MLflow's own CLI (``mlflow server``, in a subprocess) with its process-starting
call (``mlflow.server._exec_cmd``) and its database work replaced by recorders, and compare the uvicorn command
and environment it would start with ours; and the SQLite files we copy in with the ones the CLI's own
preparation (``initialize_backend_stores``, ``_bootstrap_basic_auth``) leaves. An MLflow upgrade that changes
either fails here instead of drifting silently.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

import pytest

from grader.stack.mlflow_server import WORKERS, server_launch, sqlite_templates

pytestmark = pytest.mark.slow  # each imports MLflow in a subprocess (seconds)

_CLI_CODE = r"""
import json, os, sys
from unittest import mock
from click.testing import CliRunner
import mlflow.cli, mlflow.server

captured = {}

class Done:
    pid = 0
    def poll(self): return 0
    def wait(self): return 0
    def send_signal(self, signum): pass

def exec_cmd(cmd, extra_env=None, **kwargs):
    captured.update(cmd=cmd, env=extra_env, kwargs=kwargs)
    return Done()

args = json.loads(sys.argv[1])
before = dict(os.environ)
with mock.patch("mlflow.server._exec_cmd", exec_cmd), \
        mock.patch("mlflow.server.handlers.initialize_backend_stores") as init_stores, \
        mock.patch("mlflow.server._bootstrap_basic_auth") as bootstrap:
    result = CliRunner().invoke(mlflow.cli.cli, ["server", *args], catch_exceptions=False)
assert result.exit_code == 0, result.output
captured["cli_environ"] = {k: v for k, v in os.environ.items() if before.get(k) != v}
captured["init_stores"] = [list(c.args) + sorted(c.kwargs.items()) for c in init_stores.call_args_list]
captured["bootstrapped"] = bootstrap.call_count
print("CAPTURED " + json.dumps(captured))
"""


def _cli_launch(tmp_path, env: dict, args: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", _CLI_CODE, json.dumps(args)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(li for li in done.stdout.splitlines() if li.startswith("CAPTURED "))
    return json.loads(line[len("CAPTURED "):])


@pytest.mark.parametrize("basic_auth", [False, True], ids=["plain", "basic-auth"])
def test_launch_is_what_the_mlflow_cli_would_start(tmp_path, basic_auth):
    from grader.stack.base import service_env

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # the CLI only reads it (its database work is replaced)
    env = service_env(HOME=str(tmp_path), MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
                      MLFLOW_BACKEND_STORE_URI=store)
    if basic_auth:
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "flask-secret"
    args = ["--artifacts-destination", "s3://mlflow", "--host", "127.0.0.1", "--port", "5123",
            "--workers", str(WORKERS)] + (["--app-name", "basic-auth"] if basic_auth else [])
    cli = _cli_launch(tmp_path, env, args)

    argv, ours = server_launch(5123, store, "s3://mlflow", basic_auth, env.get("MLFLOW_FLASK_SERVER_SECRET_KEY"))
    assert argv == cli["cmd"]
    assert cli["kwargs"] == {"capture_output": False, "synchronous": False}
    # What the uvicorn process would see: the CLI's own environment (with what it set there) plus env_map.
    theirs = {**cli["cli_environ"], **cli["env"]}
    for name in ("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "MLFLOW_BACKEND_STORE_URI", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        theirs.pop(name, None)  # ours come from start_mlflow_server's env, as the CLI's came from its own
    if basic_auth:
        # The one deliberate difference: no CLI process bootstrapped the admin user, so the workers do.
        assert theirs.pop("_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED") == "true"
        assert cli["bootstrapped"] == 1
    # A fresh random id per server start, on both sides.
    assert re.fullmatch(r"[0-9a-f]{32}", theirs.pop("_MLFLOW_SERVER_BOOT_ID"))
    assert re.fullmatch(r"[0-9a-f]{32}", ours.pop("_MLFLOW_SERVER_BOOT_ID"))
    ours.pop("MLFLOW_FLASK_SERVER_SECRET_KEY", None)
    assert ours == theirs
    # The stores the CLI prepares before uvicorn starts: what sqlite_templates stands for (next test).
    assert cli["init_stores"] == [[store, store, "mlflow-artifacts:/", ["read_replica_backend_store_uri", None],
                                   ["workspace_store_uri", None]]]


_PREPARE_CODE = r"""
import os, sys
from mlflow.server.handlers import initialize_backend_stores
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore as AuthStore
folder = sys.argv[1]
uri = f"sqlite:///{folder}/mlflow.db"
initialize_backend_stores(uri, uri, "mlflow-artifacts:/")  # as the CLI calls it (previous test)
AuthStore().init_db(f"sqlite:///{folder}/basic_auth.db")  # _bootstrap_basic_auth, before its admin user
"""


def _dump(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        # a statement's lines sorted: Alembic's batch mode writes a table's CHECK constraints in any order
        tables = {name: sorted(line.strip().rstrip(",") for line in sql.splitlines())
                  for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")}
        rows = {name: conn.execute(f'SELECT * FROM "{name}"').fetchall()
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {"tables": tables, "rows": rows}
    finally:
        conn.close()


def _without_times(dump: dict) -> dict:
    """The Default experiment's creation and update times differ between two creations."""
    rows = dict(dump["rows"])
    rows["experiments"] = [tuple(v for v in row if not isinstance(v, int) or v < 10**12) for row in rows["experiments"]]
    return {"tables": dump["tables"], "rows": rows}


def test_sqlite_templates_are_what_the_cli_prepares(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from grader.stack.base import service_env

    templates = sqlite_templates(tmp_path / "template.log")
    assert (templates / ".complete").exists()
    assert sqlite_templates(tmp_path / "template.log") == templates  # made once
    cli = tmp_path / "cli"
    cli.mkdir()
    done = subprocess.run([sys.executable, "-c", _PREPARE_CODE, str(cli)], capture_output=True, text=True,
                          env=service_env(HOME=str(tmp_path)), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    ours, theirs = _dump(templates / "mlflow.db"), _dump(cli / "mlflow.db")
    assert ours["rows"]["experiments"], "no Default experiment"
    assert _without_times(ours) == _without_times(theirs)
    auth_ours, auth_theirs = _dump(templates / "basic_auth.db"), _dump(cli / "basic_auth.db")
    assert auth_ours == auth_theirs
    assert auth_ours["rows"]["users"] == []  # the admin user is the workers' to create, with this stack's password
