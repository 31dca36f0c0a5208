"""Harness for the suite's own tests: one real stack per session, and a way to run the grader on it.

The grader runs as the learner runs it — ``python -m pytest checks …`` in a subprocess — against a
stack this session started once (``--stack external`` through a private stack file), so each test
pays for its scripts, not for a stack start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SCRIPT_TIMEOUT = 240


# -- tests that need the machine to themselves ---------------------------------------------------------------
# The suite may run with pytest-xdist (`-n 2 --dist loadfile`, README). A test marked `alone` counts every sandbox process of the
# machine, measures a CPU cap or times a fault: while it runs (setup to teardown, module fixtures included),
# no other test of this run does. Two flock'ed files shared by the run's workers: `machine`, held shared by
# every other test and exclusively by an `alone` one, and `gate`, which an `alone` test holds while it waits,
# so that the other worker cannot keep `machine` busy test after test (writer preference).
def _lock_folder(run: str) -> Path:
    return Path(tempfile.gettempdir()) / f"handson-tests-{run}"


@contextlib.contextmanager
def _machine(alone: bool, run: str):
    folder = _lock_folder(run)
    folder.mkdir(exist_ok=True)
    with open(folder / "gate", "a") as gate, open(folder / "machine", "a") as machine:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(machine, fcntl.LOCK_UN)


# -- the fast subset ------------------------------------------------------------------------------------------
# `pytest tests -m "not slow"` is the developer's quick run (README). Rather than marking each slow test by hand,
# pytest_collection_modifyitems marks a test `slow` when it is marked `realstack`, or when it uses, directly or
# through another fixture, one of SLOW_FIXTURES: they start a stack, or grade a class, once for the tests that
# share them. A slow test this rule cannot see (it starts a stack, runs the grader or pytest in a subprocess,
# or waits out a timeout itself) is marked `slow` in its module, with the reason. tests/test_fast_subset.py
# holds the rule.
SLOW_FIXTURES = frozenset({
    "local_stack",  # MariaDB + MinIO + MLflow, once a session; grade_local and the graded-class fixtures use it
    "embedded",  # test_stack_cli.TestEmbedded: SQLite + a folder + an MLflow server
    "cli_run",  # test_similarity: the similarity command on a class of 14 learners
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") is None and (
                item.get_closest_marker("realstack") is not None or SLOW_FIXTURES & set(item.fixturenames)):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # set in each worker of one `-n` run; absent when serial
    if not run:
        yield
        return
    with _machine(item.get_closest_marker("alone") is not None, run):
        yield


def pytest_sessionfinish(session):
    # A worker with no test left removes the folder; the other, if still running, makes it again on its next test.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run:
        shutil.rmtree(_lock_folder(run), ignore_errors=True)


@pytest.fixture(autouse=True)
def _language_restored():
    """A test that switches the grader's language in-process (set_lang) cannot leave it switched for the
    next module: figures and messages of later tests would come out in Japanese."""
    from grader import i18n

    lang = i18n.get_lang()
    yield
    i18n.set_lang(lang)


def fake_stack_info():
    """A stack description with recognisable secrets, for tests that need no running stack."""
    from grader.stack.base import StackInfo

    return StackInfo(
        backend="local",
        tracking_uri="http://127.0.0.1:9",
        db_url="mysql+pymysql://grader:s3cretpw1234@127.0.0.1:1/mlflow",
        s3_endpoint="127.0.0.1:2",
        s3_access_key="handson-abcd1234",
        s3_secret_key="supersecretkey123",
        bucket="mlflow",
    )


def require_local_stack() -> None:
    """Skip on a laptop without MariaDB/MinIO; under CI the real-stack tests must run, so fail."""
    from grader.stack.local import missing_binaries

    missing = missing_binaries()
    if missing:
        message = "the local stack needs: " + "; ".join(missing)
        if IN_CI:
            pytest.fail(message + " (CI=true: real-stack tests must run; see scripts/install-local-stack.sh)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """A real MariaDB + MinIO + MLflow stack shared by the session's grading runs."""
    require_local_stack()
    from grader.stack.local import LocalStack

    backend = LocalStack(base_dir=tmp_path_factory.mktemp("local-stack"))
    info = backend.start()
    yield info
    backend.stop()


@pytest.fixture(scope="session")
def local_stack_file(local_stack, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stackfile") / "stack.json"
    path.write_text(local_stack.to_json())
    path.chmod(0o600)
    return path


@dataclasses.dataclass
class Graded:
    returncode: int
    output: str
    # learner -> check id -> {"status": passed|failed|error, "output": message}
    results: dict

    def statuses(self, learner: str | None = None) -> dict:
        if learner is None:
            assert len(self.results) == 1, f"expected one learner, got {list(self.results)}"
            learner = next(iter(self.results))
        return {check: entry["status"] for check, entry in self.results[learner].items()}

    def message(self, check: str, learner: str | None = None) -> str:
        learner = learner or next(iter(self.results))
        return self.results[learner][check]["output"]


def commit_all(path: Path) -> Path:
    """``path`` made a git repository holding one commit of everything in it (a learner's repository)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "learner", "GIT_AUTHOR_EMAIL": "learner@example.org",
           "GIT_COMMITTER_NAME": "learner", "GIT_COMMITTER_EMAIL": "learner@example.org"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "my work"]):
        subprocess.run(["git", *cmd], cwd=path, env=env, check=True, capture_output=True)
    return path


def _read_results(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {t["extra_data"]["check"]: {"status": t["extra_data"]["status"], "output": t["output"]}
            for t in data["tests"]}


def grade(tmp_path: Path, *args: str, stack_file: Path | None = None, submission: Path | None = None,
          submissions: Path | None = None, env: dict | None = None, timeout: float = 900) -> Graded:
    """Run the grader in a subprocess, as a learner or an instructor would, and read its report."""
    out = tmp_path / ("grades" if submissions else "results.json")
    cmd = [sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider", "--grade-json", str(out)]
    if submission:
        cmd += ["--submission", str(submission)]
    if submissions:
        cmd += ["--submissions", str(submissions)]
    if stack_file:
        cmd += ["--stack", "external"]
    if "--submission-timeout" not in args:
        # The reference step 5 takes about 45 s alone on a 2-core CI machine (mlflow.sklearn.log_model infers
        # requirements in a subprocess, three times); two workers and a loaded machine must not time it out.
        cmd += ["--submission-timeout", str(SCRIPT_TIMEOUT)]
    cmd += list(args)
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}
    run_env["HANDSON_STACK_FILE"] = str(stack_file or tmp_path / "no-stack.json")
    run_env.update(env or {})
    proc = subprocess.run(cmd, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    results = {}
    if submissions and out.is_dir():
        for learner_dir in sorted(out.iterdir()):
            results[learner_dir.name] = _read_results(learner_dir / "results.json")
    elif out.is_file():
        label = (submission or ROOT / "exercises").name
        results[label] = _read_results(out)
    return Graded(proc.returncode, output, results)


@pytest.fixture
def grade_local(local_stack_file, tmp_path):
    """grade_local(*pytest_args, submission=…, submissions=…) on the session's local stack."""

    def run(*args, **kwargs):
        return grade(tmp_path, *args, stack_file=local_stack_file, **kwargs)

    return run


_STACKS_USED: list[str] = []


@pytest.fixture(scope="session")
def local_db_version(local_stack) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(local_stack.db_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT VERSION()")).scalar()
    engine.dispose()
    _STACKS_USED.append(f"local stack: MySQL-compatible server {version}, MinIO at {local_stack.s3_endpoint}, "
                        f"MLflow at {local_stack.tracking_uri}")
    return version


def pytest_terminal_summary(terminalreporter):
    for line in _STACKS_USED:
        terminalreporter.write_line(line)
