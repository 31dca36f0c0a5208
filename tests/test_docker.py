"""The docker path on a real Docker engine: our compose file and the grader's docker backend.

The upstream images (mysql:8.4, quay.io MinIO/mc, python:3.11-slim) cannot be pulled here, so these tests
run docker-compose.yml with docker/compose.offline.yml, which swaps in the local stand-ins built by
``bash scripts/install-docker.sh --offline-images`` (MariaDB behind a mysql-image entrypoint, Go-built
MinIO and mc, the MLflow image on a Debian Python). Everything else — commands, health checks, the
one-shot bucket init, ports, volumes — is the file learners run.

Each ``docker compose up`` costs about a minute, so the tests are few and coarse. Without an engine or
the stand-in images they skip; under CI=true they fail.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT, SUBMISSIONS, grade
from grader import catalog
from grader.i18n import t
from grader.stack import docker as docker_stack
from test_isolation import assert_no_attack_succeeded, hostile_learners

pytestmark = [pytest.mark.realstack, pytest.mark.slow]

BASE_FILE = docker_stack.COMPOSE_FILE
OFFLINE_FILE = docker_stack.OFFLINE_FILE
FILES = [BASE_FILE, OFFLINE_FILE]
COMPOSE_OPTIONS = [a for f in FILES for a in ("--compose-file", str(f))]
PROJECT_LABEL = "com.docker.compose.project"
ALL_CHECKS = [c.id for c in catalog.CHECKS]
CHECKS_OF_STEP = {step: [c.id for c in catalog.CHECKS if c.step == step] for step in sorted({c.step for c in catalog.CHECKS})}
# Faulty submissions whose verdicts depend on the database and the object store: name case (the
# utf8mb4_bin collation), tag values, an artifact, the model registry.
FAULTY = ["step1_experiment_tag_value", "step2_tag_key_case", "step3_binary_log_image", "step5_registered_last_model"]
PARALLEL = ["-n", "2"] if importlib.util.find_spec("xdist") else []


def _problem() -> str | None:
    if not docker_stack.engine_answers():
        return "no Docker engine answers (bash scripts/install-docker.sh --offline-images)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        return "the docker compose v2 plugin is missing (bash scripts/install-docker.sh)"
    missing = [image for image in ("handson-local/mlflow:3.17.2", "handson-local/python:3.11")
               if not docker_stack.image_present(image)]
    missing += [image for _, image, _ in docker_stack.unavailable_images(FILES)]
    if missing:
        return f"stand-in images missing: {', '.join(missing)} (bash scripts/install-docker.sh --offline-images)"
    return None


@pytest.fixture(scope="module", autouse=True)
def require_docker():
    """Skip on a machine without the engine or the stand-ins; under CI the docker tests must run, so fail."""
    problem = _problem()
    if problem:
        if IN_CI:
            pytest.fail(problem + " (CI=true: the docker tests must run)")
        pytest.skip(problem)


def _docker_lines(*argv: str) -> list[str]:
    proc = subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=60, check=True)
    return [line for line in proc.stdout.splitlines() if line.strip()]


def compose_objects() -> dict[str, set[str]]:
    """Compose projects that own a container, a network or a volume on this engine."""
    fmt = '{{.Label "%s"}}' % PROJECT_LABEL
    return {kind: set(_docker_lines(kind, *cmd, "--filter", f"label={PROJECT_LABEL}", "--format", fmt))
            for kind, cmd in (("container", ["ls", "-a"]), ("network", ["ls"]), ("volume", ["ls"]))}


def leftovers(project: str) -> dict[str, list[str]]:
    """The project's containers, networks and volumes still on the engine (none after a clean teardown)."""
    label = f"label={PROJECT_LABEL}={project}"
    return {kind: _docker_lines(kind, *cmd, "--filter", label, "--format", "{{.Names}}" if kind == "container" else "{{.Name}}")
            for kind, cmd in (("container", ["ls", "-a"]), ("network", ["ls"]), ("volume", ["ls"]))}


def compose(*argv: str, project: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = ["docker", "compose"] + [a for f in FILES for a in ("-f", str(f))] + ["-p", project, *argv]
    # Without any HANDSON_* variable of the environment (the ports, the accounts): the learner's defaults.
    # DOCKER_BUILDKIT=0: BuildKit runs every RUN step on the engine's bridge network, which the CI engine
    # (dockerd --bridge=none) has not; the classic builder finds every step of the MLflow image in the cache
    # that install-docker.sh filled, so `--build` still checks that docker/Dockerfile builds that image.
    env = {**_clean_env(), "DOCKER_BUILDKIT": "0"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def config_json(files: list[Path]) -> dict:
    return docker_stack.compose_config(files, env=_clean_env())


def _without_images(config: dict) -> dict:
    for service in config["services"].values():
        service.pop("image", None)
        (service.get("build") or {}).pop("args", None)
    return config


def test_offline_override_changes_only_images(tmp_path):
    """`docker compose config` of both files: the images are the stand-ins, everything else is the base file's."""
    base, merged = config_json([BASE_FILE]), config_json(FILES)
    images = {name: s.get("image") for name, s in merged["services"].items()}
    assert all(images[name].startswith("handson-local/") for name in ("mysql", "minio", "minio-init", "mlflow")), images
    assert merged["services"]["mlflow"]["build"]["args"]["PYTHON_IMAGE"] == "handson-local/python:3.11"
    assert _without_images(merged) == _without_images(base)


def test_auto_uses_docker_only_when_it_can_get_the_images(tmp_path, monkeypatch):
    from grader.stack import choose

    monkeypatch.setenv("HANDSON_STACK_FILE", str(tmp_path / "no-stack.json"))
    from grader.stack import external

    if external.compose_stack() is not None:
        pytest.skip("a docker compose stack answers on port 5000")  # auto would pick it (external)
    # The upstream images are neither here nor pullable: auto must not pick a stack that cannot start.
    backend, reason = choose("auto")
    assert backend in ("local", "embedded") and "mysql:8.4" in reason, (backend, reason)
    assert "--compose-file docker/compose.offline.yml" in reason, reason  # the stand-ins are here: say how
    assert choose("auto", FILES)[0] == "docker"


def test_busy_port_is_a_clear_error(tmp_path):
    """A fixed port that is taken: the service, the port and the option to change it, before any container."""
    from grader.stack.base import StackError

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        stack = docker_stack.DockerStack(ports={"mysql": port}, compose_files=FILES)
        with pytest.raises(StackError) as raised:
            stack.start()
        assert raised.value.service == "mysql"
        assert t("stack.port_busy", port=port, option="--mysql-port") in raised.value.describe()
        assert leftovers(stack.project) == {"container": [], "network": [], "volume": []}
        # The same through the CLI, with the compose files given there.
        proc = subprocess.run(
            [sys.executable, "-m", "grader", "--lang", "en", "stack", "up", "--backend", "docker",
             *COMPOSE_OPTIONS, "--mlflow-port", str(port)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**_clean_env(), "HANDSON_STACK_FILE": str(tmp_path / "stack.json")})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"port {port} is already in use" in proc.stderr and "--mlflow-port" in proc.stderr, proc.stderr


def test_failed_up_names_the_service_and_leaves_nothing(tmp_path):
    """A one-shot bucket init that fails: the error names minio-init with its log; down -v cleans up."""
    from grader.stack.base import StackError

    broken = tmp_path / "broken-init.yml"
    marker = f"bucket-init-broken-{uuid.uuid4().hex[:6]}"
    broken.write_text(f'services:\n  minio-init:\n    entrypoint: ["/bin/sh", "-c", "echo {marker}; exit 3"]\n')
    stack = docker_stack.DockerStack(compose_files=[*FILES, broken], timeout=180)
    with pytest.raises(StackError) as raised:
        stack.start()
    text = raised.value.describe()
    assert raised.value.service == "minio-init", text
    assert t("docker.state_exited", code=3) in text and marker in text, text
    assert f"-p {stack.project} logs minio-init" in text, text
    assert leftovers(stack.project) == {"container": [], "network": [], "volume": []}


def _clean_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}


@pytest.fixture(scope="module")
def graded_on_docker(tmp_path_factory):
    """One grading run on `--stack docker` with the offline override: the solutions and a few faulty cases."""
    root = tmp_path_factory.mktemp("docker-grading")
    subs = root / "subs"
    shutil.copytree(ROOT / "solutions", subs / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    for case in FAULTY:
        shutil.copytree(SUBMISSIONS / "faulty" / case, subs / case, ignore=shutil.ignore_patterns("*.txt"))
    hostile_learners(subs)
    before = compose_objects()
    graded = grade(root, "--stack", "docker", *COMPOSE_OPTIONS, "--lang", "en", *PARALLEL,
                   submissions=subs, timeout=1800)
    after = compose_objects()
    return graded, before, after


def test_solutions_pass_every_check_on_docker(graded_on_docker):
    graded, _, _ = graded_on_docker
    assert "stack = docker" in graded.output, graded.output[-3000:]
    statuses = graded.statuses("solutions") if "solutions" in graded.results else {}
    assert statuses == {c: "passed" for c in ALL_CHECKS}, graded.output[-4000:]
    assert len(statuses) == 27


@pytest.mark.parametrize("case", FAULTY)
def test_faulty_submission_fails_exactly_its_check_on_docker(graded_on_docker, case):
    graded, _, _ = graded_on_docker
    assert case in graded.results, graded.output[-4000:]
    folder = SUBMISSIONS / "faulty" / case
    step = next(folder.glob("step[0-9].py")).stem
    must_fail, not_graded = set(_lines(folder / "expected.txt")), set(_lines(folder / "not_graded.txt"))
    wanted = {c: "failed" if c in must_fail else "not_graded" if c in not_graded else "passed"
              for c in CHECKS_OF_STEP[step]}
    found = {c: graded.results[case].get(c, {}).get("status") for c in wanted}
    assert found == wanted, graded.output[-4000:]


def test_hostile_learners_get_nowhere_on_docker(graded_on_docker):
    """The hostile learners of tests/test_isolation.py, graded in the same run as the solutions: on the docker
    backend too no attack succeeds (the honest learner's full points are checked above)."""
    graded, _, _ = graded_on_docker
    from grader import sandbox

    assert_no_attack_succeeded(graded, sandbox.plan().mode)
    assert "\x1b[2J" not in graded.output and "\u202e" not in graded.output


def test_grading_on_docker_leaves_no_container_network_or_volume(graded_on_docker):
    _, before, after = graded_on_docker
    new = {kind: after[kind] - before[kind] for kind in after}
    assert new == {"container": set(), "network": set(), "volume": set()}, new


def test_learner_path_compose_up_then_external_and_auto(tmp_path):
    """As the guide says: `docker compose up --build --wait`, then pytest on that stack, chosen or found."""
    busy = [port for port in (5000, 3306, 9000, 9001) if _port_used(port)]
    if busy:
        message = f"the default ports {busy} are taken; the learner path publishes on them"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    project = f"handsonlearner{uuid.uuid4().hex[:6]}"
    try:
        up = compose("up", "--build", "--wait", "--wait-timeout", "300", project=project)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        # The one-shot bucket init ran and exited 0; the long-running services are healthy.
        states = {row["Service"]: row for row in map(json.loads, compose("ps", "-a", "--format", "json",
                                                                          project=project).stdout.splitlines())}
        assert states["minio-init"]["State"] == "exited" and states["minio-init"]["ExitCode"] == 0, states
        assert all(states[s]["Health"] == "healthy" for s in ("mysql", "minio", "mlflow")), states
        for stack_option in (["--stack", "external"], []):
            work = tmp_path / (stack_option[-1] if stack_option else "auto")
            work.mkdir()
            graded = grade(work, *stack_option,
                           "-k", "step1 or step2", submission=ROOT / "solutions")
            assert "stack = external" in graded.output, graded.output[-3000:]
            assert graded.statuses() and set(graded.statuses().values()) == {"passed"}, graded.output[-3000:]
        assert "a docker compose stack answers at http://127.0.0.1:5000" in graded.output
    finally:
        down = compose("down", "-v", "--remove-orphans", project=project)
    assert down.returncode == 0, down.stderr
    assert leftovers(project) == {"container": [], "network": [], "volume": []}


def _lines(path: Path) -> list[str]:
    """A case's expected.txt / not_graded.txt (tests/test_submissions.py's format): one check id a line."""
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _port_used(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_grader_stack_refuses_the_well_known_accounts_and_keeps_learners_apart():
    """A stack the grader starts has accounts of its own: a learner script that finds its published ports
    gets nowhere with the compose file's defaults (minioadmin, root/root, mlflow/mlflow, grader-readonly),
    while the grader's read-only account reads and cannot write."""
    import pymysql
    from minio import Minio
    from minio.error import S3Error

    stack = docker_stack.DockerStack(compose_files=FILES, timeout=300)
    info = stack.start()
    try:
        mysql_port = stack.ports["mysql"]
        for user, password in (("root", "root"), ("mlflow", "mlflow"), ("grader", "grader-readonly")):
            with pytest.raises(pymysql.err.OperationalError) as refused:
                pymysql.connect(host="127.0.0.1", port=mysql_port, user=user, password=password, connect_timeout=5)
            assert refused.value.args[0] == 1045, (user, refused.value)
        with pytest.raises(S3Error) as denied:
            Minio(info.s3_endpoint, "minioadmin", "minioadmin", secure=False).list_buckets()
        assert denied.value.code == "InvalidAccessKeyId", denied.value
        assert [b.name for b in Minio(info.s3_endpoint, info.s3_access_key, info.s3_secret_key,
                                      secure=False).list_buckets()] == [docker_stack.BUCKET]
        import sqlalchemy

        engine = sqlalchemy.create_engine(info.db_url)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM experiments")).scalar() >= 1
            with pytest.raises(sqlalchemy.exc.OperationalError):
                conn.execute(sqlalchemy.text("DELETE FROM experiments"))
        engine.dispose()
        assert set(info.secrets) >= {info.s3_secret_key, stack.secrets["HANDSON_DB_ROOT_PASSWORD"], info.admin_password}
        _learners_cannot_reach_each_other(info)
    finally:
        stack.stop()
    assert leftovers(stack.project) == {"container": [], "network": [], "volume": []}


def _learners_cannot_reach_each_other(info):
    """MLflow's access control on the docker stack: without a login nothing; one learner's experiment is
    invisible and untouchable for another; its creator is its owner in the auth tables the grader reads."""
    import urllib.error

    from grader.stack import auth
    from grader.store import AuthDB

    assert info.admin_user and info.auth_db_url, "a grader-started docker stack has access control on"
    for user in ("alice-d", "bob-d"):
        auth.create_user(info, user, user + "-password-12")
    alice, bob = ("alice-d", "alice-d-password-12"), ("bob-d", "bob-d-password-12")
    created = auth._request(info, "/api/2.0/mlflow/experiments/create", {"name": "alice-private"}, user=alice)
    experiment_id = created["experiment_id"]
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        auth._request(info, "/api/2.0/mlflow/experiments/search", {"max_results": 10}, user=("", ""))
    assert anonymous.value.code == 401
    for path, payload in (("/api/2.0/mlflow/experiments/get?experiment_id=" + experiment_id, None),
                          ("/api/2.0/mlflow/experiments/delete", {"experiment_id": experiment_id})):
        with pytest.raises(urllib.error.HTTPError) as denied:
            auth._request(info, path, payload, method="GET" if payload is None else "POST", user=bob)
        assert denied.value.code == 403, path
    assert AuthDB(info.auth_db_url).owners("experiment", experiment_id) == {"alice-d"}
