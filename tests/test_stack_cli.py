"""``python -m grader stack info | sql | ls``: look inside the recorded stack with the grader's read-only
accounts, as a learner without Docker would (step 1's tables, step 3's objects)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, fake_stack_info

HANDS_ON_TABLES = {"alembic_version", "experiment_tags", "experiments", "latest_metrics", "metrics",
                   "model_version_tags", "model_versions", "params", "registered_model_tags",
                   "registered_models", "runs", "tags"}


def cli(stack_file: Path, *args: str, stdin: str | None = None, lang: str = "en") -> subprocess.CompletedProcess:
    """``python -m grader --lang LANG stack ARGS…`` in a subprocess, the stack given by the stack file only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}
    env["HANDSON_STACK_FILE"] = str(stack_file)
    return subprocess.run([sys.executable, "-m", "grader", "--lang", lang, "stack", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def table_column(output: str) -> set[str]:
    """The first column of a printed table (between the rule and the row count)."""
    lines = output.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    return {line.split()[0] for line in lines[rule + 1:] if line.strip() and not line.startswith("(")}


def log_artifact(info, text: str = "Hello world") -> tuple[str, str]:
    """An experiment and a run with one artifact, logged through the server as its admin (the grader's own
    keys are read-only). Returns (experiment id, run id)."""
    import mlflow

    env = {"MLFLOW_TRACKING_USERNAME": info.admin_user, "MLFLOW_TRACKING_PASSWORD": info.admin_password}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v})
    try:
        client = mlflow.MlflowClient(info.tracking_uri)
        experiment_id = client.create_experiment(f"stackcli-{uuid.uuid4().hex[:8]}")
        run = client.create_run(experiment_id, run_name="peek")
        client.log_text(run.info.run_id, text, "notes/hello.txt")
        client.set_terminated(run.info.run_id)
        return experiment_id, run.info.run_id
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def assert_clean_failure(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr


# -- no stack ------------------------------------------------------------------------------------------
@pytest.fixture
def no_compose():
    from grader.stack import external

    if external.compose_stack() is not None:
        pytest.skip("a docker compose stack answers on 127.0.0.1:5000; the commands would use it")


@pytest.mark.parametrize("action", [("info",), ("sql", "SHOW TABLES"), ("ls",)])
def test_without_a_stack_says_how_to_start_one(action, tmp_path, no_compose):
    proc = cli(tmp_path / "none.json", *action)
    assert_clean_failure(proc)
    assert "no stack is recorded" in proc.stderr and "python -m grader stack up" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_without_a_stack_in_japanese(tmp_path, no_compose):
    proc = cli(tmp_path / "none.json", "sql", "SHOW TABLES", lang="ja")
    assert_clean_failure(proc)
    assert "記録されたスタックがありません" in proc.stderr and "python -m grader stack up" in proc.stderr


def test_a_stale_stack_file_is_reported(tmp_path, no_compose):
    path = tmp_path / "stack.json"
    path.write_text(fake_stack_info().to_json())
    proc = cli(path, "sql", "SHOW TABLES")
    assert_clean_failure(proc)
    assert "does not answer" in proc.stderr and "http://127.0.0.1:9" in proc.stderr


# -- the text table ------------------------------------------------------------------------------------
def test_table_aligns_columns_and_wide_characters():
    from grader.stack.peek import table, width

    text = table(["name", "value", "n"], [("a", 1, None), ("実験", 22, None)])
    lines = text.splitlines()
    assert lines[0].split() == ["name", "value", "n"]
    assert lines[2].split() == ["a", "1", "NULL"] and lines[3].split() == ["実験", "22", "NULL"]
    assert len({width(line.rstrip()) for line in lines[1:]}) == 1, text  # every row as wide as the rule
    # numbers right-aligned, in display columns
    assert width(lines[2][:lines[2].index("1")]) == width(lines[3][:lines[3].index("22")]) + 1


def test_show_tables_is_translated_for_sqlite_only():
    from grader.stack.peek import translate

    for sql in ("SHOW TABLES", "show tables;", "  Show  Tables ; "):
        assert "sqlite_master" in translate(sql, "sqlite:///file:/x/mlflow.db?mode=ro&uri=true")
        assert translate(sql, "mysql+pymysql://u:p@127.0.0.1:3306/mlflow") == sql
    assert translate("SHOW TABLES LIKE 'x'", "sqlite:////x.db") == "SHOW TABLES LIKE 'x'"


# -- embedded (SQLite + a folder); first, so that it is stopped before the session's local stack starts ----
class TestEmbedded:
    @pytest.fixture(scope="class")
    def embedded(self, tmp_path_factory):
        from grader.stack.embedded import EmbeddedStack

        backend = EmbeddedStack(base_dir=tmp_path_factory.mktemp("embedded-stack"))
        info = backend.start()
        path = tmp_path_factory.mktemp("embedded-file") / "stack.json"
        path.write_text(info.to_json())
        yield info, path
        backend.stop()

    def test_info_shows_the_folder_and_the_read_only_database(self, embedded):
        info, path = embedded
        proc = cli(path, "info")
        assert proc.returncode == 0, proc.stderr
        assert info.tracking_uri in proc.stdout and info.artifact_dir in proc.stdout
        assert "read-only" in proc.stdout and "mode=ro" in proc.stdout

    def test_show_tables_works_on_sqlite(self, embedded):
        _, path = embedded
        proc = cli(path, "sql", "SHOW TABLES;")
        assert proc.returncode == 0, proc.stderr
        assert HANDS_ON_TABLES <= table_column(proc.stdout), proc.stdout

    def test_a_write_is_refused(self, embedded):
        _, path = embedded
        proc = cli(path, "sql", "DELETE FROM experiments")
        assert_clean_failure(proc)
        assert "readonly" in proc.stderr and "read-only account" in proc.stderr

    def test_ls_walks_the_artifact_folder(self, embedded):
        info, path = embedded
        experiment_id, run_id = log_artifact(info, "Hello world")
        proc = cli(path, "ls")
        assert proc.returncode == 0, proc.stderr
        key = f"{experiment_id}/{run_id}/artifacts/notes/hello.txt"
        assert [key, "11"] in [line.split() for line in proc.stdout.splitlines()], proc.stdout
        # the artifact_uri column of runs works as a prefix too
        proc = cli(path, "ls", f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
        assert proc.returncode == 0 and key in proc.stdout and "1 object" in proc.stdout, proc.stdout

    def test_the_prompt_reads_statements_until_quit(self, embedded):
        _, path = embedded
        proc = cli(path, "sql", stdin="SELECT 40 + 2 AS answer\n\nnot sql\nSELECT 'after' AS x;\nquit\nSELECT 1\n")
        assert proc.returncode == 0, proc.stderr
        assert "answer" in proc.stdout and "42" in proc.stdout and "after" in proc.stdout
        assert "syntax error" in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stdout.count("(1 row)") == 2  # nothing after quit


# -- local (MariaDB + MinIO) -----------------------------------------------------------------------------
def test_info_shows_the_stack_and_its_read_only_accounts(local_stack, local_stack_file):
    proc = cli(local_stack_file, "info")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert local_stack.tracking_uri in out and local_stack.s3_endpoint in out
    assert "bucket" in out and local_stack.bucket in out and local_stack.s3_access_key in out
    assert local_stack.db_url in out and "read-only" in out
    assert "python -m grader stack sql" in out


def test_info_in_japanese(local_stack, local_stack_file):
    proc = cli(local_stack_file, "info", lang="ja")
    assert proc.returncode == 0, proc.stderr
    assert "読み取り専用" in proc.stdout and "バケット" in proc.stdout


def test_show_tables_lists_the_hands_on_tables(local_stack_file):
    proc = cli(local_stack_file, "sql", "SHOW TABLES")
    assert proc.returncode == 0, proc.stderr
    assert HANDS_ON_TABLES <= table_column(proc.stdout), proc.stdout
    assert "Tables_in_mlflow" in proc.stdout


def test_a_write_fails_with_a_clear_message(local_stack_file):
    proc = cli(local_stack_file, "sql", "DELETE FROM experiments")
    assert_clean_failure(proc)
    assert "DELETE command denied" in proc.stderr, proc.stderr
    assert "read-only account" in proc.stderr


def test_select_prints_rows_as_typed(local_stack_file):
    # '%' reaches the database as typed (no driver placeholders)
    proc = cli(local_stack_file, "sql", "SELECT name FROM experiments WHERE name LIKE 'Def%'")
    assert proc.returncode == 0, proc.stderr
    assert table_column(proc.stdout) == {"Default"} and "(1 row)" in proc.stdout


def test_ls_lists_objects_logged_through_mlflow(local_stack, local_stack_file):
    experiment_id, run_id = log_artifact(local_stack, "Hello world\n")
    key = f"{experiment_id}/{run_id}/artifacts/notes/hello.txt"
    proc = cli(local_stack_file, "ls")
    assert proc.returncode == 0, proc.stderr
    assert [key, "12"] in [line.split() for line in proc.stdout.splitlines()], proc.stdout
    keys = [line.split()[0] for line in proc.stdout.splitlines()[:-1]]
    assert keys == sorted(keys)
    proc = cli(local_stack_file, "ls", f"{experiment_id}/{run_id}/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split() == [key, "12"] and "1 object in" in proc.stdout
    proc = cli(local_stack_file, "ls", "no-such-prefix/")
    assert proc.returncode == 0 and "no objects" in proc.stdout, proc.stdout


@pytest.mark.parametrize("args", [["classroom"], ["practice", "list"], ["--help"]])
def test_output_piped_into_a_reader_that_stops_ends_quietly(args):
    """`python -m grader … | head -1`: the reader closes the pipe; the command ends without a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_")}
    proc = subprocess.Popen([sys.executable, "-m", "grader", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command has written anything: its first write or flush meets a closed pipe
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr
    assert code in (0, 141), (code, stderr)
