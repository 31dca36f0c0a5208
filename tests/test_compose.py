"""Static checks of docker-compose.yml, docker/Dockerfile and the MySQL init script.

No Docker engine is needed: the files are parsed with PyYAML / tomllib / regular expressions.
`docker compose config -q` runs only when the compose CLI plugin is installed.

The file uses no fixture from the grader plugin, so it also runs on its own:

    python -m pytest -p no:cacheprovider --noconftest tests/test_compose.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"
GRADER_SQL = ROOT / "docker" / "mysql-init" / "01-grader.sql"
OFFLINE_FILE = ROOT / "docker" / "compose.offline.yml"

SERVICES = ("mysql", "minio", "minio-init", "mlflow")
EXPECTED_IMAGES = {
    "mysql": "mysql:8.4",
    "minio": "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
    "minio-init": "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z",
}
LONG_RUNNING = ("mysql", "minio", "mlflow")


# ---------------------------------------------------------------- helpers (each has a negative test)


def image_problems(image: object) -> list[str]:
    """Why an `image:` value is not pinned to a fixed tag (or digest); empty when it is."""
    if not isinstance(image, str) or not image.strip():
        return [f"image {image!r} is not a non-empty string"]
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return [f"image {image!r} has no tag"]
    tag = last.split(":", 1)[1]
    if not tag:
        return [f"image {image!r} has an empty tag"]
    if tag == "latest":
        return [f"image {image!r} uses 'latest'"]
    return []


def port_problems(ports: object) -> list[str]:
    """Why a `ports:` list publishes something beyond 127.0.0.1; empty when all entries are loopback."""
    if ports is None:
        return []
    if not isinstance(ports, list):
        return [f"ports {ports!r} is not a list"]
    problems = []
    for entry in ports:
        if isinstance(entry, dict):  # long syntax
            if entry.get("host_ip") != "127.0.0.1":
                problems.append(f"port {entry!r} has host_ip {entry.get('host_ip')!r}, not 127.0.0.1")
        elif not (isinstance(entry, str) and entry.startswith("127.0.0.1:")):
            problems.append(f"port {entry!r} is not bound to 127.0.0.1")
    return problems


def as_text(value: object) -> str:
    """A compose `command`/`entrypoint`/healthcheck `test` as one space-joined string."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def as_env(value: object) -> dict[str, str]:
    """A compose `environment` (mapping or KEY=VALUE list) as a dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    env = {}
    for item in value:
        key, _, val = str(item).partition("=")
        env[key] = val
    return env


def depends_condition(service: dict, dependency: str) -> str | None:
    """The `condition:` under which `service` waits for `dependency` (short syntax -> service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return "service_started" if dependency in deps else None
    entry = deps.get(dependency)
    if entry is None:
        return None
    return (entry or {}).get("condition", "service_started")


def option_value(tokens: list[str], flag: str) -> str | None:
    """The value of `--flag VALUE` or `--flag=VALUE` in a token list, None when absent."""
    for i, token in enumerate(tokens):
        if token == flag and i + 1 < len(tokens):
            return tokens[i + 1]
        if token.startswith(flag + "="):
            return token.split("=", 1)[1]
    return None


def command_tokens(command: object) -> list[str]:
    if isinstance(command, list):
        return [str(t) for t in command]
    return str(command or "").split()


_MLFLOW_PIN = re.compile(r"(?<![\w.-])mlflow(?:\[[\w,\s-]*\])?\s*==\s*([0-9][0-9A-Za-z.+!-]*)")


def dockerfile_mlflow_pin(text: str) -> str | None:
    """The version in `mlflow==X` on a RUN line of a Dockerfile; None when mlflow is not pinned exactly."""
    pins = set()
    for line in _logical_lines(text):
        if line.lstrip().upper().startswith("RUN "):
            pins.update(_MLFLOW_PIN.findall(line))
    if len(pins) > 1:
        raise AssertionError(f"Dockerfile pins mlflow more than once: {sorted(pins)}")
    return pins.pop() if pins else None


def pyproject_mlflow_pin(data: dict) -> str | None:
    """The version in the `mlflow==X` entry of [project].dependencies."""
    for dep in data.get("project", {}).get("dependencies", []):
        match = re.fullmatch(r"\s*mlflow\s*(\[[\w,\s-]*\])?\s*==\s*([^\s;,]+)\s*(;.*)?", dep)
        if match:
            return match.group(2)
    return None


def _logical_lines(text: str) -> list[str]:
    """Dockerfile lines with backslash continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return lines


def grant_problems(sql: str, user: str = "grader") -> list[str]:
    """Why the SQL gives `user` more than SELECT on mlflow.* (or nothing at all); empty when it is exactly that."""
    body = re.sub(r"--[^\n]*|#[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)
    statements = [s.strip() for s in body.split(";") if s.strip()]
    problems, grants = [], []
    user_re = rf"['`\"]?{re.escape(user)}['`\"]?\s*@"
    for stmt in statements:
        flat = " ".join(stmt.split())
        if not re.match(r"(?i)grant\s", flat):
            if re.match(r"(?i)(alter|create)\s+user\s", flat) and re.search(user_re, flat) and re.search(r"(?i)\bwith\s+grant\s+option\b", flat):
                problems.append(f"grant option for {user}: {flat}")
            continue
        match = re.match(r"(?i)grant\s+(.+?)\s+on\s+(\S+)\s+to\s+(.+)$", flat)
        if not match:
            # GRANT role TO user: roles can carry anything
            if re.search(user_re, flat):
                problems.append(f"role grant to {user}: {flat}")
            continue
        privileges, target, grantee = match.groups()
        if not re.search(user_re, grantee):
            continue
        grants.append(flat)
        privs = [p.strip().upper() for p in privileges.split(",")]
        if privs != ["SELECT"]:
            problems.append(f"{user} gets {privileges!r}, not only SELECT: {flat}")
        if target.replace("`", "").lower() != "mlflow.*":
            problems.append(f"{user} is granted on {target}, not mlflow.*: {flat}")
        if re.search(r"(?i)\bwith\s+grant\s+option\b", grantee):
            problems.append(f"{user} gets GRANT OPTION: {flat}")
    if not grants:
        problems.append(f"no GRANT to {user}")
    return problems


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose() -> dict:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict:
    services = compose.get("services")
    assert isinstance(services, dict) and services, "docker-compose.yml has no services"
    return services


# ---------------------------------------------------------------- compose file


def test_services_present(services):
    missing = [name for name in SERVICES if name not in services]
    assert not missing, f"missing services: {missing}"


@pytest.mark.parametrize("name", SERVICES)
def test_image_pinned(services, name):
    service = services[name]
    if "image" not in service:
        assert "build" in service, f"{name}: neither image nor build"
        return
    assert not image_problems(service["image"]), image_problems(service["image"])


def test_every_image_pinned(services):
    problems = [p for name, s in services.items() if "image" in s for p in image_problems(s["image"])]
    assert not problems, problems


@pytest.mark.parametrize("name, image", sorted(EXPECTED_IMAGES.items()))
def test_expected_image(services, name, image):
    assert services[name].get("image") == image


def test_mlflow_built_from_docker_dir(services):
    build = services["mlflow"].get("build")
    context = build.get("context") if isinstance(build, dict) else build
    assert context is not None, "mlflow has no build"
    assert (ROOT / context).resolve() == DOCKERFILE.parent.resolve(), f"mlflow builds from {context!r}, not ./docker"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_healthcheck(services, name):
    check = services[name].get("healthcheck") or {}
    assert not check.get("disable"), f"{name}: healthcheck disabled"
    test = check.get("test")
    assert test and test not in (["NONE"], "NONE"), f"{name}: no healthcheck test"


def test_mysql_healthcheck_pings_over_tcp(services):
    test = as_text(services["mysql"]["healthcheck"]["test"])
    assert "mysqladmin ping" in test
    assert re.search(r"-h\s*127\.0\.0\.1", test), test
    assert re.search(r"-u\s*\S+", test) and ("--password" in test or re.search(r"\s-p", test)), "ping without credentials"


def test_minio_healthcheck_uses_mc(services):
    assert as_text(services["minio"]["healthcheck"]["test"]).split()[-3:] == ["mc", "ready", "local"]


def test_mlflow_healthcheck_hits_health(services):
    test = as_text(services["mlflow"]["healthcheck"]["test"])
    assert "urllib" in test and "http://127.0.0.1:5000/health" in test, test


def test_mlflow_depends_on(services):
    mlflow = services["mlflow"]
    assert depends_condition(mlflow, "mysql") == "service_healthy"
    assert depends_condition(mlflow, "minio-init") == "service_completed_successfully"


def test_minio_init_waits_for_minio_and_makes_bucket(services):
    init = services["minio-init"]
    assert depends_condition(init, "minio") == "service_healthy"
    script = as_text(init.get("entrypoint")) + " " + as_text(init.get("command"))
    assert "mc alias set" in script
    assert re.search(r"mc mb\s+--ignore-existing\s+local/mlflow\b", script), script


def test_one_shot_services_are_adopted(services):
    """`up --wait` fails on an exited container unless a service waits for it to complete."""
    for name, service in services.items():
        if name in LONG_RUNNING or service.get("healthcheck"):
            continue
        adopters = [n for n, s in services.items() if depends_condition(s, name) == "service_completed_successfully"]
        assert adopters, f"one-shot service {name} is not waited for with service_completed_successfully"


def test_mysql_server_flags(services):
    command = as_text(services["mysql"].get("command"))
    assert "--skip-log-bin" in command or "--log-bin-trust-function-creators=1" in command, command
    assert "--character-set-server=utf8mb4" in command, command
    assert "--collation-server=utf8mb4_bin" in command, command


def test_mysql_environment_and_init_mount(services):
    mysql = services["mysql"]
    env = as_env(mysql.get("environment"))
    assert env.get("MYSQL_DATABASE") == "mlflow"
    assert env.get("MYSQL_USER") == "mlflow"
    assert env.get("MYSQL_PASSWORD") == "${HANDSON_DB_PASSWORD:-mlflow}"
    assert env.get("MYSQL_ROOT_PASSWORD"), "MYSQL_ROOT_PASSWORD not set"
    mounts = [str(v) for v in mysql.get("volumes") or []]
    assert any(m.startswith("./docker/mysql-init") and ":/docker-entrypoint-initdb.d" in m for m in mounts), mounts


def test_mlflow_command(services):
    tokens = command_tokens(services["mlflow"].get("command"))
    assert tokens[:2] == ["mlflow", "server"], tokens
    assert option_value(tokens, "--host") == "0.0.0.0"
    assert option_value(tokens, "--port") == "5000"
    assert (option_value(tokens, "--artifacts-destination") or "").startswith("s3://")
    backend = option_value(tokens, "--backend-store-uri") or ""
    assert backend.startswith("mysql+pymysql://") and "@mysql:3306/mlflow" in backend, backend
    hosts = (option_value(tokens, "--allowed-hosts") or "").split(",")
    for needed in ("mlflow", "localhost", "127.0.0.1"):
        assert needed in hosts, f"--allowed-hosts lacks {needed}: {hosts}"


def test_mlflow_environment(services):
    env = as_env(services["mlflow"].get("environment"))
    minio_env = as_env(services["minio"].get("environment"))
    assert env.get("MLFLOW_S3_ENDPOINT_URL") == "http://minio:9000"
    assert env.get("AWS_ACCESS_KEY_ID") == minio_env.get("MINIO_ROOT_USER")
    assert env.get("AWS_SECRET_ACCESS_KEY") == minio_env.get("MINIO_ROOT_PASSWORD")
    assert env.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "").lower() == "false"


def test_minio_defaults(services):
    env = as_env(services["minio"].get("environment"))
    assert env.get("MINIO_ROOT_USER", "").endswith(":-minioadmin}")
    assert env.get("MINIO_ROOT_PASSWORD", "").endswith(":-minioadmin}")


def test_ports_loopback_only(services):
    problems = [f"{name}: {p}" for name, s in services.items() for p in port_problems(s.get("ports"))]
    assert not problems, problems


@pytest.mark.parametrize(
    "name, variable, container_port",
    [("mlflow", "HANDSON_MLFLOW_PORT", 5000), ("mysql", "HANDSON_MYSQL_PORT", 3306), ("minio", "HANDSON_MINIO_PORT", 9000)],
)
def test_ports_follow_grader_variables(services, name, variable, container_port):
    """grader/stack/docker.py picks free ports and passes them in these variables."""
    ports = [str(p) for p in services[name].get("ports") or []]
    assert any(re.fullmatch(rf"127\.0\.0\.1:\$\{{{variable}:-\d+\}}:{container_port}", p) for p in ports), ports


# ---------------------------------------------------------------- Dockerfile and pins


def test_dockerfile_base_and_expose():
    text = DOCKERFILE.read_text(encoding="utf-8")
    # The base is a build argument (docker/compose.offline.yml passes a local stand-in); its default is upstream.
    assert re.search(r"(?im)^ARG\s+PYTHON_IMAGE=python:3\.11-slim\s*$", text), "base image is not python:3.11-slim"
    assert re.search(r"(?im)^FROM\s+\$\{PYTHON_IMAGE\}\s*$", text), "FROM does not use the PYTHON_IMAGE argument"
    assert re.search(r"(?im)^EXPOSE\s+5000\b", text)
    assert re.search(r"(?i)pip install --no-cache-dir\b", text)
    for package in ("pymysql", "boto3"):
        assert re.search(rf"(?i)\b{package}\b", text), f"{package} not installed"


def test_mlflow_pin_matches_pyproject():
    docker_pin = dockerfile_mlflow_pin(DOCKERFILE.read_text(encoding="utf-8"))
    project_pin = pyproject_mlflow_pin(tomllib.loads(PYPROJECT.read_text(encoding="utf-8")))
    assert project_pin, "pyproject.toml has no mlflow==X dependency"
    assert docker_pin, "docker/Dockerfile does not pin mlflow==X"
    assert docker_pin == project_pin, f"Dockerfile mlflow=={docker_pin}, pyproject.toml mlflow=={project_pin}"


# ---------------------------------------------------------------- the offline override


def override_problems(override: dict, base_services: dict) -> list[str]:
    """What an override sets beyond image references and build arguments of the base file's services."""
    problems = [f"top-level key {key!r}" for key in override if key != "services"]
    for name, service in (override.get("services") or {}).items():
        if name not in base_services:
            problems.append(f"service {name!r} is not in docker-compose.yml")
            continue
        for key, value in (service or {}).items():
            if key == "image":
                problems += [f"{name}: {p}" for p in image_problems(value)]
            elif key == "build" and isinstance(value, dict) and set(value) <= {"args"}:
                continue
            else:
                problems.append(f"{name}: sets {key!r}")
    return problems


def test_offline_override_swaps_only_images_and_build_args(services):
    override = yaml.safe_load(OFFLINE_FILE.read_text(encoding="utf-8"))
    assert not override_problems(override, services), override_problems(override, services)
    # Every pulled image is replaced, so nothing needs a registry.
    assert {n for n, s in override["services"].items() if "image" in s} >= set(EXPECTED_IMAGES)
    assert "PYTHON_IMAGE" in override["services"]["mlflow"]["build"]["args"]


@pytest.mark.parametrize("override", [
    {"services": {"mysql": {"image": "x:1", "command": ["--x"]}}},
    {"services": {"mysql": {"image": "x"}}},
    {"services": {"mlflow": {"build": {"context": "."}}}},
    {"services": {"postgres": {"image": "x:1"}}},
    {"services": {}, "volumes": {"v": {}}},
])
def test_override_problems_rejects(services, override):
    assert override_problems(override, services)


# ---------------------------------------------------------------- MySQL init script


def test_grader_sql_grants_select_only():
    sql = GRADER_SQL.read_text(encoding="utf-8")
    assert not grant_problems(sql), grant_problems(sql)
    flat = " ".join(sql.split())
    assert re.search(r"(?i)create user (if not exists )?'grader'@'%' identified by 'grader-readonly'", flat)


def test_grader_sql_sets_collation():
    flat = " ".join(GRADER_SQL.read_text(encoding="utf-8").split())
    assert re.search(
        r"(?i)(alter|create) database (if not exists )?`?mlflow`? (default )?character set utf8mb4 collate utf8mb4_bin", flat
    ), flat


# ---------------------------------------------------------------- docker compose config (CLI only)


def _compose_cli_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _compose_cli_available(), reason="the `docker compose` CLI plugin is not installed")
@pytest.mark.parametrize("files", [[COMPOSE_FILE], [COMPOSE_FILE, OFFLINE_FILE]], ids=["default", "offline"])
def test_docker_compose_config(files):
    result = subprocess.run(
        ["docker", "compose"] + [a for f in files for a in ("-f", str(f))] + ["config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- the helpers reject what they should


@pytest.mark.parametrize("image", ["mysql", "mysql:latest", "quay.io/minio/minio", "localhost:5000/minio", "", None])
def test_image_problems_rejects(image):
    assert image_problems(image)


@pytest.mark.parametrize("image", ["mysql:8.4", "localhost:5000/minio:RELEASE.x", "minio@sha256:" + "0" * 64])
def test_image_problems_accepts(image):
    assert not image_problems(image)


@pytest.mark.parametrize(
    "ports",
    [
        ["0.0.0.0:5000:5000"],
        ["5000:5000"],
        ["5000"],
        ["127.0.0.1:3306:3306", "9000:9000"],
        [{"target": 5000, "published": 5000}],
        [{"target": 5000, "published": 5000, "host_ip": "0.0.0.0"}],
        "127.0.0.1:5000:5000",
    ],
)
def test_port_problems_rejects(ports):
    assert port_problems(ports)


def test_port_problems_accepts():
    assert not port_problems(["127.0.0.1:${HANDSON_MLFLOW_PORT:-5000}:5000", {"target": 1, "host_ip": "127.0.0.1"}])


def test_pin_helpers():
    assert dockerfile_mlflow_pin("FROM x\nRUN pip install \\\n    mlflow==1.2.3 boto3\n") == "1.2.3"
    assert dockerfile_mlflow_pin('FROM x\nRUN pip install "mlflow[auth]==1.2.4" boto3\n') == "1.2.4"
    assert dockerfile_mlflow_pin("FROM x\nRUN pip install mlflow>=1.2 boto3\n") is None
    assert dockerfile_mlflow_pin("FROM x\nRUN pip install mlflow-skinny==9.9 boto3\n") is None
    assert dockerfile_mlflow_pin("FROM x\n# RUN pip install mlflow==0.1\n") is None
    assert pyproject_mlflow_pin({"project": {"dependencies": ["mlflow==3.0.0", "pytest"]}}) == "3.0.0"
    assert pyproject_mlflow_pin({"project": {"dependencies": ["mlflow>=3", "mlflow-skinny==3.0.0"]}}) is None


@pytest.mark.parametrize(
    "sql",
    [
        "GRANT ALL PRIVILEGES ON mlflow.* TO 'grader'@'%';",
        "GRANT SELECT, INSERT ON mlflow.* TO 'grader'@'%';",
        "GRANT SELECT ON *.* TO 'grader'@'%';",
        "GRANT SELECT ON mlflow.* TO 'grader'@'%' WITH GRANT OPTION;",
        "GRANT SELECT ON mlflow.* TO 'grader'@'%'; GRANT UPDATE ON `mlflow`.* TO `grader`@`%`;",
        "GRANT SELECT ON mlflow.* TO 'someone'@'%';",
        "-- GRANT SELECT ON mlflow.* TO 'grader'@'%';",
    ],
)
def test_grant_problems_rejects(sql):
    assert grant_problems(sql)


def test_grant_problems_accepts():
    assert not grant_problems("/* c */ GRANT SELECT ON `mlflow`.* TO 'grader'@'%';\nGRANT ALL ON mlflow.* TO 'mlflow'@'%';")
