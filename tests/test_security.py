"""Security properties: no secret reaches a learner's script or a report, the grader's DB account is
read-only, services listen on loopback only, credentials are random per stack."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import psutil
import pytest

from conftest import ROOT, fake_stack_info, require_local_stack
from grader import sandbox
from grader.runner import redact, run_script, stack_secrets
from grader.stack.base import StackInfo

INFO = fake_stack_info()
DB_PASSWORD = "s3cretpw1234"
LOOPBACK = {"127.0.0.1", "::1"}


def db_password(info: StackInfo) -> str:
    from sqlalchemy.engine import make_url

    return make_url(info.db_url).password


def secrets_of(info: StackInfo) -> dict:
    return {"db password": db_password(info), "s3 secret key": info.s3_secret_key,
            "s3 access key": info.s3_access_key}


# -- the script's environment ----------------------------------------------------------------------------
DECOYS = {
    "AWS_SECRET_ACCESS_KEY": "decoy-aws-secret-0001",
    "AWS_ACCESS_KEY_ID": "decoy-aws-access-0002",
    "MINIO_ROOT_PASSWORD": "decoy-minio-password-0003",
    "MINIO_ROOT_USER": "decoy-minio-user-0004",
    "MYSQL_PWD": "decoy-mysql-pwd-0005",
    "MYSQL_ROOT_PASSWORD": "decoy-mysql-root-0006",
    "HANDSON_DB_URL": "mysql+pymysql://decoy:decoy-db-url-0007@127.0.0.1:1/mlflow",
    "DATABASE_URL": "postgresql://decoy:decoy-database-url-0008@db/x",
    "MLFLOW_S3_ENDPOINT_URL": "http://decoy-s3-endpoint-0009:9000",
    "HANDSON_S3_SECRET_KEY": "decoy-handson-s3-0010",
    "MLFLOW_BACKEND_STORE_URI": "mysql+pymysql://decoy:decoy-backend-0011@127.0.0.1:1/mlflow",
    "HANDSON_STACK_FILE": "/decoy/stack-file-0012.json",
    "MLFLOW_TRACKING_PASSWORD": "decoy-tracking-password-0013",
}


def test_script_environment_holds_no_secret(tmp_path, monkeypatch):
    for name, value in DECOYS.items():
        monkeypatch.setenv(name, value)
    # Innocuous names whose values carry the stack's own secrets.
    monkeypatch.setenv("BUILD_NOTES", f"remember {INFO.s3_secret_key} for later")
    monkeypatch.setenv("LAST_COMMAND", f"mysql -pass {DB_PASSWORD} -h 127.0.0.1")
    monkeypatch.setenv("CONNECTION", INFO.db_url)
    monkeypatch.setenv("WHO_UPLOADS", INFO.s3_access_key)
    # Secrets under names no denylist would guess: the environment is an allowlist.
    monkeypatch.setenv("INSTRUCTOR_API_KEY", "decoy-api-key-0014")
    monkeypatch.setenv("LMS_PASSWD", "decoy-passwd-0015")
    monkeypatch.setenv("GRADES_DSN", "postgresql://decoy:decoy-dsn-0016@db/x")
    monkeypatch.setenv("HARMLESS_SETTING", "not-on-the-allowlist-0099")
    # Allowed names pass; one whose value holds a stack secret does not.
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    monkeypatch.setenv("LC_TIME", f"C.UTF-8 {INFO.s3_secret_key}")

    submission = tmp_path / "learner"
    submission.mkdir()
    (submission / "step1.py").write_text(textwrap.dedent(f"""
        import json, os
        with open({str(tmp_path / "env.json")!r}, "w") as f:
            json.dump(dict(os.environ), f)
    """))
    same_user = sandbox.Plan("none", "sandbox.asked_none")  # so that it may write the dump for us
    result = run_script(submission, "step1.py", INFO, "exp", tmp_path, "model", 30, plan=same_user)
    assert result.ok, result.output
    dump = (tmp_path / "env.json").read_text()
    env = json.loads(dump)

    for name in ("HARMLESS_SETTING", "INSTRUCTOR_API_KEY", "LMS_PASSWD", "GRADES_DSN", "LC_TIME"):
        assert name not in env, f"{name} reached the script"
    assert env.get("TZ") == "Asia/Tokyo"
    allowed = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TERM", "VIRTUAL_ENV", "TMPDIR", "USER", "LOGNAME",
               "PWD", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "MLFLOW_TRACKING_URI", "HANDSON_EXPERIMENT",
               "HANDSON_DATA_DIR", "HANDSON_MODEL_NAME", "HANDSON_RUN_TOKEN",
               "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD",
               "MLFLOW_DISABLE_TELEMETRY"}
    assert {n for n in env if not n.startswith("LC_")} <= allowed, sorted(set(env) - allowed)
    # artifacts through the server, never presigned URLs of the object store (which a script cannot reach)
    assert env["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] == env["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] == "false"
    # MLflow's telemetry thread edits os.environ while the script may iterate it (a race seen in CI)
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert env["MLFLOW_TRACKING_URI"] == INFO.tracking_uri
    leaked_names = sorted(set(DECOYS) & set(env))
    assert leaked_names == [], f"secret variables reached the script: {leaked_names}"
    for name in ("BUILD_NOTES", "LAST_COMMAND", "CONNECTION", "WHO_UPLOADS"):
        assert name not in env, f"{name} (its value holds a stack secret) reached the script"
    for value in DECOYS.values():
        assert value not in dump
    for what, secret in {**secrets_of(INFO), "db url": INFO.db_url}.items():
        assert secret not in dump, f"the {what} reached the script's environment"
    for name in env:
        assert not name.upper().startswith(("AWS_", "MINIO_", "MYSQL_", "MARIADB_")), name


def test_stack_secrets_cover_the_db_password_and_s3_keys():
    assert set(stack_secrets(INFO)) == {DB_PASSWORD, INFO.s3_secret_key, INFO.s3_access_key}


def test_script_output_is_redacted():
    text = f"db {DB_PASSWORD} key {INFO.s3_secret_key} ok"
    assert redact(text, stack_secrets(INFO)) == "db [redacted] key [redacted] ok"


# -- the grader's database account -------------------------------------------------------------------------
def _snapshot(conn, sa):
    return {
        "experiments": conn.execute(sa.text(
            "SELECT experiment_id, name, lifecycle_stage FROM experiments ORDER BY experiment_id")).all(),
        "tables": sorted(conn.execute(sa.text("SHOW TABLES")).scalars()),
    }


WRITES = {
    "insert": "INSERT INTO experiments (name, artifact_location, lifecycle_stage) "
              "VALUES ('sneaky', 'x', 'active')",
    "update": "UPDATE experiments SET name = 'renamed'",
    "delete": "DELETE FROM experiments",
    "create table": "CREATE TABLE sneaky (id INT)",
    "drop table": "DROP TABLE experiments",
    "truncate": "TRUNCATE TABLE tags",
    "alter table": "ALTER TABLE experiments ADD COLUMN sneaky INT",
    "create database": "CREATE DATABASE sneaky",
}


def test_grader_db_account_is_read_only(local_stack):
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    engine = sa.create_engine(local_stack.db_url)
    try:
        with engine.connect() as conn:
            before = _snapshot(conn, sa)
        assert before["experiments"], "the tracking DB should hold MLflow's Default experiment"
        assert "experiments" in before["tables"] and "sneaky" not in before["tables"]

        allowed = []
        for what, sql in WRITES.items():
            with engine.connect() as conn:
                try:
                    conn.execute(sa.text(sql))
                    conn.commit()
                except DBAPIError as e:
                    code = e.orig.args[0] if e.orig is not None and e.orig.args else None
                    # 1142 table command denied, 1044 database access denied, 1227 privilege needed
                    assert code in (1142, 1044, 1227), f"{what}: unexpected error {e.orig!r}"
                    assert "denied" in str(e.orig).lower()
                else:
                    allowed.append(what)
        assert allowed == [], f"the grader's account could: {allowed}"

        with engine.connect() as conn:
            assert _snapshot(conn, sa) == before
            # Reading is what it is for.
            assert conn.execute(sa.text("SELECT COUNT(*) FROM runs")).scalar() >= 0
            assert conn.execute(sa.text("SELECT CURRENT_USER()")).scalar().startswith("grader@")
    finally:
        engine.dispose()


# -- listening sockets -------------------------------------------------------------------------------------
def test_services_listen_on_loopback_only(local_stack):
    assert set(local_stack.pids) == {"mysql", "minio", "mlflow"}
    listening = {}
    for service, pid in local_stack.pids.items():
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
        sockets = []
        for proc in procs:
            try:
                conns = proc.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            sockets += [c for c in conns if c.status == psutil.CONN_LISTEN]
        assert sockets, f"{service} (pid {pid}) listens nowhere: cannot check its addresses"
        listening[service] = sorted({(c.laddr.ip, c.laddr.port) for c in sockets})
    exposed = {service: [a for a in addrs if a[0] not in LOOPBACK] for service, addrs in listening.items()}
    assert exposed == {service: [] for service in listening}, f"listening sockets: {listening}"
    # The stack's advertised endpoints are among them.
    mlflow_port = int(local_stack.tracking_uri.rsplit(":", 1)[1])
    assert ("127.0.0.1", mlflow_port) in listening["mlflow"]
    minio_port = int(local_stack.s3_endpoint.rsplit(":", 1)[1])
    assert ("127.0.0.1", minio_port) in listening["minio"]


# -- random credentials ------------------------------------------------------------------------------------
def test_credentials_are_random_per_stack(local_stack, tmp_path):
    require_local_stack()
    from grader.stack.local import LocalStack

    other_backend = LocalStack(base_dir=tmp_path)
    other = other_backend.start()
    try:
        # Also the MLflow server's own (read-write) DB account, seen on its command line.
        write_urls = [_backend_store_uri(info) for info in (local_stack, other)]
    finally:
        other_backend.stop()

    for info in (local_stack, other):
        assert len(db_password(info)) >= 16
        assert len(info.s3_secret_key) >= 16
        assert len(info.s3_access_key) >= 12
    assert db_password(local_stack) != db_password(other)
    assert local_stack.s3_secret_key != other.s3_secret_key
    assert local_stack.s3_access_key != other.s3_access_key
    from sqlalchemy.engine import make_url

    write_passwords = [make_url(url).password for url in write_urls]
    assert all(len(p) >= 16 for p in write_passwords)
    assert write_passwords[0] != write_passwords[1]
    assert db_password(local_stack) not in write_passwords


def _backend_store_uri(info: StackInfo) -> str:
    return psutil.Process(info.pids["mlflow"]).environ()["MLFLOW_BACKEND_STORE_URI"]


def test_no_password_on_any_service_command_line(local_stack):
    """Command lines are world-readable (ps): the stack's secrets travel in environments only."""
    from sqlalchemy.engine import make_url

    secrets = [make_url(_backend_store_uri(local_stack)).password, make_url(local_stack.db_url).password,
               local_stack.s3_secret_key]
    assert all(secrets)
    procs = []
    for pid in local_stack.pids.values():
        parent = psutil.Process(pid)
        procs += [parent, *parent.children(recursive=True)]
    assert len(procs) >= 3
    for proc in procs:
        cmdline = " ".join(proc.cmdline())
        assert not any(secret in cmdline for secret in secrets), cmdline


# -- reports -----------------------------------------------------------------------------------------------
LEAKY_STEP1 = """
import json, os, sys
# A learner printing everything it can see, then failing so the output (its tail) lands in the report.
# One variable a line (a line of output is shown up to 300 characters), the contract's variables last, so they
# are among the tail's 15 lines.
env = dict(os.environ)
plain = [k for k in env if not k.startswith(("MLFLOW_", "HANDSON_", "AWS_"))]
for key in plain + [k for k in env if k not in plain]:
    print(f"{key}={env[key]}")
print("end of environment dump", flush=True)
sys.exit(3)
"""


def test_no_secret_in_reports_or_output(grade_local, local_stack, tmp_path):
    secrets = secrets_of(local_stack)
    # The grader's own environment holds the secrets under names the runner must filter.
    grader_env = {"AWS_SECRET_ACCESS_KEY": local_stack.s3_secret_key, "NOTE_TO_SELF": local_stack.db_url}

    solutions = grade_local(submission=ROOT / "solutions", env=grader_env)
    assert solutions.results and set(solutions.statuses().values()) == {"passed"}, solutions.output[-3000:]
    solutions_report = (tmp_path / "results.json").read_text()

    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "step1.py").write_text(LEAKY_STEP1)
    leaked = grade_local("-k", "step1", submission=leaky, env=grader_env)
    leaky_report = (tmp_path / "results.json").read_text()
    # The script's output did reach the report (so a secret in it would have too).
    assert "end of environment dump" in leaky_report, f"exit {leaked.returncode}\n{leaked.output[-4000:]}"
    assert "MLFLOW_TRACKING_URI=" in leaky_report
    assert leaked.statuses()["step1.experiment"] == "failed"

    for label, text in (("solutions output", solutions.output), ("solutions results.json", solutions_report),
                        ("leaky output", leaked.output), ("leaky results.json", leaky_report)):
        for what, secret in secrets.items():
            assert secret not in text, f"the stack's {what} appears in the {label}"
