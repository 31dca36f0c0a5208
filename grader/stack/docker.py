"""``docker`` backend: ``docker compose`` over ``docker-compose.yml`` (MySQL 8.4, MinIO, MLflow image).

One compose project per stack (``-f`` once per compose file, like ``docker compose -f a -f b``). Before ``up``
the backend checks that the published ports are free and that every image is here or pullable, so neither
becomes a hang or a wall of compose output; a failed ``up`` still runs ``down -v`` and names the failing
service with its log.

Compose runs through pytest-docker's ``DockerComposeExecutor`` (DESIGN.md). The stack's published ports and
fresh passwords reach compose in an env file of the stack (``--env-file``, 0600 in a private folder removed at
stop; ``compose_variables``), never through the grader's own ``os.environ`` nor a command line: the grader
process keeps no stack secret in its environment, so nothing it starts later inherits one, and ``ps`` shows none.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import port_for

from grader.config import STACK_TIMEOUT
from grader.i18n import t
from grader.stack.base import StackError, StackInfo, guard, http_ok

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OFFLINE_FILE = ROOT / "docker" / "compose.offline.yml"
# docker/mysql-init/ creates the read-only account with a known password; the grader's stacks change it.
DB_RO_USER, DB_RO_PASSWORD = "grader", "grader-readonly"
# docker-compose.yml's defaults: what a learner's own `docker compose up` runs with (grader/stack/external.py).
MINIO_USER, MINIO_PASSWORD = "minioadmin", "minioadmin"
BUCKET = "mlflow"
# The accounts docker-compose.yml reads from these variables (its defaults are the hands-on's well-known
# ones, fine for one learner's own stack). A stack the grader starts gets fresh random values, so a learner
# script that finds a published port cannot log in with the defaults.
SECRET_VARIABLES = ("HANDSON_MINIO_USER", "HANDSON_MINIO_PASSWORD", "HANDSON_DB_PASSWORD", "HANDSON_DB_ROOT_PASSWORD")
# The published ports and the variables docker-compose.yml reads them from.
PORT_VARIABLES = {"mlflow": "HANDSON_MLFLOW_PORT", "mysql": "HANDSON_MYSQL_PORT", "minio": "HANDSON_MINIO_PORT",
                  "minio-console": "HANDSON_MINIO_CONSOLE_PORT"}
PROBE_TIMEOUT = 20.0
# The user docker/Dockerfile runs the MLflow server as.
IMAGE_UID = 1000


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_files_or_default(files: Sequence[Path | str] | None) -> list[Path]:
    return [Path(f) for f in files] if files else [COMPOSE_FILE]


def _run(argv: list[str], timeout: float = PROBE_TIMEOUT, env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"no answer within {timeout:.0f} s")
    except OSError as e:
        return subprocess.CompletedProcess(argv, 127, "", str(e))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def compose_config(files: Sequence[Path], env_file: Path | None = None, env: dict | None = None) -> dict:
    """The compose files merged and interpolated, as ``docker compose config`` prints them (``env``: the
    environment compose runs in, default the grader's)."""
    argv = ["docker", "compose", *(["--env-file", str(env_file)] if env_file else [])]
    argv += [a for f in files for a in ("-f", str(f))] + ["config", "--format", "json"]
    proc = _run(argv, env=env)
    if proc.returncode != 0:
        raise StackError("docker compose", _last_line(proc.stderr) or f"exit {proc.returncode}")
    return json.loads(proc.stdout)


def service_images(config: dict) -> dict[str, str]:
    """service -> image for the services that are pulled (not built)."""
    services = config.get("services", {})
    return {name: s["image"] for name, s in services.items() if s.get("image") and not s.get("build")}


def image_present(image: str) -> bool:
    return _run(["docker", "image", "inspect", image]).returncode == 0


def image_pullable(image: str) -> tuple[bool, str]:
    """(True, "") when a registry serves the image's manifest; else (False, why). Downloads nothing."""
    proc = _run(["docker", "manifest", "inspect", image])
    return proc.returncode == 0, _last_line(proc.stderr)


def unavailable_images(files: Sequence[Path], config: dict | None = None) -> list[tuple[str, str, str]]:
    """(service, image, why) for each image that is neither on this machine nor pullable (``config``: the
    files' merged config when the caller has read it already)."""
    missing = []
    for service, image in service_images(config or compose_config(files)).items():
        if image_present(image):
            continue
        ok, why = image_pullable(image)
        if not ok:
            missing.append((service, image, why))
    return missing


def images_problem(files: Sequence[Path] | None = None) -> str | None:
    """None when ``docker compose`` works and every image of the files can be had; else what is wrong, as a
    phrase in the reader's language (for ``--stack auto``: a Docker engine that cannot get the images is not
    a usable docker stack)."""
    try:
        missing = unavailable_images(compose_files_or_default(files))
    except StackError as e:
        return t("auto.compose_failed", cause=e.cause)
    except ValueError as e:  # compose printed something that is not JSON
        return t("auto.compose_failed", cause=str(e))
    if not missing:
        return None
    return t("auto.images_missing", images=t("value.sep").join(image for _, image, _ in missing))


def compose_variables(ports: Mapping[str, int], secret_values: Mapping[str, str]) -> dict[str, str]:
    """What docker-compose.yml reads for one stack: its published ports (``PORT_VARIABLES``) and accounts
    (``SECRET_VARIABLES``)."""
    return {**{PORT_VARIABLES[name]: str(port) for name, port in ports.items()}, **secret_values}


def write_env_file(folder: Path, variables: Mapping[str, str]) -> Path:
    """``folder/compose.env`` (created 0600: it holds passwords) with one ``NAME=value`` line per variable."""
    path = folder / "compose.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(f"{name}={value}\n" for name, value in variables.items())
    return path


class Compose:
    """``docker compose --env-file ENV -f FILE… -p PROJECT ARGS…`` for one stack, through pytest-docker's
    ``DockerComposeExecutor``. That executor runs a shell line which inherits the grader's ``os.environ`` and
    takes no environment of its own: the stack's variables therefore travel in the env file, so that they are
    neither written into the grader's environment (where every process it started later would inherit them)
    nor put on a command line. A failed command raises pytest-docker's exception, its text holding the command,
    the exit code and compose's output."""

    def __init__(self, files: Sequence[Path | str], project: str, env_file: Path):
        from pytest_docker.plugin import DockerComposeExecutor

        self.files = [str(f) for f in files]
        self.project = project
        self.env_file = Path(env_file)
        self._executor = DockerComposeExecutor(f"docker compose --env-file {shlex.quote(str(env_file))}",
                                               self.files, project)

    def execute(self, *args: str, ignore_stderr: bool = False) -> bytes:
        return self._executor.execute(shlex.join(args), ignore_stderr=ignore_stderr)


class DockerStack:
    name = "docker"

    def __init__(self, ports: dict | None = None, timeout: float = STACK_TIMEOUT,
                 compose_files: Sequence[Path | str] | None = None, access_control: bool = True, **_ignored):
        self.access_control = access_control
        self.workdir: Path | None = None
        self.wanted = {name: (ports or {}).get(name) for name in ("mlflow", "mysql", "minio")}
        self.ports = {name: port or port_for.select_random() for name, port in self.wanted.items()}
        # The MinIO console is published too: a random port keeps two stacks from colliding on 9001.
        self.ports["minio-console"] = port_for.select_random(exclude_ports=set(self.ports.values()))
        self.files = compose_files_or_default(compose_files)
        self.project = f"handson{uuid.uuid4().hex[:8]}"
        self.timeout = timeout
        self.secrets = {name: secrets.token_hex(4 if name == "HANDSON_MINIO_USER" else 16) for name in SECRET_VARIABLES}
        self.secrets["HANDSON_MINIO_USER"] = "handson-" + self.secrets["HANDSON_MINIO_USER"]
        self.reader_password = secrets.token_hex(16)
        self.auth = None
        self.private: Path | None = None
        self.env_file: Path | None = None
        self.compose: Compose | None = None

    def _prepare(self) -> None:
        """The env file of this stack's compose commands (see Compose), in a private folder of its own: never the
        grader's os.environ; learner scripts get an allowlisted environment anyway (runner.submission_env)."""
        self.private = Path(tempfile.mkdtemp(prefix="handson-compose-"))
        guard("+", "d", self.private)
        self.env_file = write_env_file(self.private, compose_variables(self.ports, self.secrets))
        self._use_files(self.files)

    def _use_files(self, files: Sequence[Path]) -> None:
        self.compose = Compose(files, self.project, self.env_file)

    def _with_access_control(self, config: dict) -> None:
        """Add an override of the run's own: the MLflow service starts the basic-auth app with the grader as its
        admin. Its config and its SQLite user database sit in a private folder of this machine mounted into the
        container, so the grader reads who owns what from the file (the app's tables cannot share MySQL's
        database: two of its foreign keys have the same name)."""
        from grader.stack.auth import auth_setup

        command = config.get("services", {}).get("mlflow", {}).get("command")
        if not command:
            raise StackError("docker compose", "access control needs an `mlflow` service with a `command:` list "
                             "(the basic-auth app is added to it); see docker-compose.yml")
        self.workdir = Path(tempfile.mkdtemp(prefix="handson-docker-"))
        guard("+", "d", self.workdir)
        inside = Path("/handson-auth")
        setup = auth_setup(self.workdir, inside, guard=True)
        self.auth = setup
        service = {
            # '$' would be compose's interpolation: '$$' keeps a literal one.
            "command": [*(str(a).replace("$", "$$") for a in command), "--app-name", "basic-auth"],
            "environment": {"MLFLOW_AUTH_CONFIG_PATH": str(inside / setup.config_path.name),
                            "MLFLOW_FLASK_SERVER_SECRET_KEY": setup.flask_secret,
                            # the grader's guard (grader/stack/server_guard), mounted with the config
                            "PYTHONPATH": str(inside / setup.guard_dir.name), "HANDSON_HASH_KEY": setup.hash_key},
            "volumes": [f"{self.workdir}:{inside}"],
        }
        if os.geteuid() == 0:
            os.chown(self.workdir, IMAGE_UID, IMAGE_UID)
            os.chown(setup.config_path, IMAGE_UID, IMAGE_UID)
        elif os.geteuid() != IMAGE_UID:
            # The container runs as this user, so the private folder stays private.
            service["user"] = f"{os.geteuid()}:{os.getegid()}"
            service["environment"]["HOME"] = "/tmp"
        path = self.workdir / "access-control.yml"
        path.touch(mode=0o600)
        path.write_text(json.dumps({"services": {"mlflow": service}}, indent=2))  # JSON is YAML
        self._use_files([*self.files, path])

    def logs_command(self, service: str | None = None) -> str:
        files = " ".join(f"-f {shlex.quote(str(f))}" for f in self.files)
        return f"docker compose {files} -p {self.project} logs" + (f" {service}" if service else "")

    def start(self) -> StackInfo:
        from grader.i18n import t

        for name, wanted in self.wanted.items():
            if wanted and port_for.port_is_used(wanted):
                raise StackError(name, t("stack.port_busy", port=wanted, option=f"--{name}-port"))
        self._prepare()
        config = compose_config(self.files, env_file=self.env_file)
        for service, image, why in unavailable_images(self.files, config=config):
            raise StackError(service, t("docker.image_unavailable", image=image, cause=why))
        if self.access_control:
            self._with_access_control(config)
        try:
            # No --build: compose builds an image that is missing (the default file's MLflow image is named
            # after this run's project, so it is always built); one the compose files name with a fixed tag
            # and that is here (docker/compose.offline.yml) is used as it is.
            self.compose.execute("up", "--wait", "--wait-timeout", str(int(self.timeout)))
        except Exception as e:
            error = self._failure(str(e))
            self.stop()
            raise error from e
        try:
            self._private_reader()
        except Exception as e:
            self.stop()
            raise StackError("mysql", t("docker.reader_failed", cause=str(e)), log=self.logs_command("mysql")) from e
        info = StackInfo(
            backend="docker",
            tracking_uri=f"http://127.0.0.1:{self.ports['mlflow']}",
            db_url=f"mysql+pymysql://{DB_RO_USER}:{self.reader_password}@127.0.0.1:{self.ports['mysql']}/mlflow",
            s3_endpoint=f"127.0.0.1:{self.ports['minio']}",
            s3_access_key=self.secrets["HANDSON_MINIO_USER"],
            s3_secret_key=self.secrets["HANDSON_MINIO_PASSWORD"],
            bucket=BUCKET,
            logs={"docker compose": self.logs_command()},
            secrets=[*self.secrets.values(), self.reader_password],
        )
        if self.auth is not None:
            info = dataclasses.replace(info, admin_user=self.auth.admin_user, admin_password=self.auth.admin_password,
                                       auth_db_url=self.auth.db_url_readonly,
                                       secrets=[*info.secrets, *self.auth.secrets])
        if not http_ok(info.tracking_uri + "/health"):
            tail = self._logs("mlflow")
            self.stop()
            raise StackError("mlflow", t("docker.no_health"), log=self.logs_command("mlflow"), tail=tail)
        return info

    def _private_reader(self) -> None:
        """Give the read-only account a password of this run (the init script's one is public)."""
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.ports["mysql"], user="root",
                               password=self.secrets["HANDSON_DB_ROOT_PASSWORD"], connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (DB_RO_USER, self.reader_password))
                cur.execute("FLUSH PRIVILEGES")
        finally:
            conn.close()

    def _failure(self, output: str) -> StackError:
        """The StackError for a failed ``up``: a busy port, else the first service that is not up, with its log."""
        from grader.i18n import t

        busy = re.search(r"127\.0\.0\.1:(\d+).*?(address already in use|port is already allocated)", output)
        if busy:
            port = int(busy.group(1))
            name = next((n for n, p in self.ports.items() if p == port), "docker compose")
            return StackError(name, t("stack.port_busy", port=port, option=f"--{name}-port"))
        for service, state in self._bad_services():
            return StackError(service, t("docker.service_failed", state=state), log=self.logs_command(service),
                              tail=self._logs(service))
        tail = "\n".join(output.strip().splitlines()[-15:])
        return StackError("docker compose", t("docker.up_failed"), tail=tail)

    def _bad_services(self) -> list[tuple[str, str]]:
        """(service, state) for each service that exited with an error, is unhealthy or is not running; causes first."""
        try:
            raw = self.compose.execute("ps", "-a", "--format", "json", ignore_stderr=True).decode("utf-8", "replace")
        except Exception:
            return []
        rows = []
        for line in raw.strip().splitlines():  # one JSON object per line (compose >= 2.21), or one list
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            rows.extend(parsed if isinstance(parsed, list) else [parsed])
        from grader.i18n import t

        bad = []
        for row in rows:
            service = row.get("Service", "?")
            state, health, code = row.get("State", ""), row.get("Health", ""), row.get("ExitCode", 0)
            if state == "exited" and code != 0:
                bad.append((0, service, t("docker.state_exited", code=code)))
            elif health == "unhealthy" or (state == "running" and health == "starting"):
                bad.append((1, service, t("docker.state_unhealthy", health=health)))
            elif state not in ("running", "exited"):
                bad.append((2, service, t("docker.state_other", state=state or "created")))
        # The cause first: a service that failed, then one that never turned healthy, then those waiting on them.
        return [(service, state) for _, service, state in sorted(bad, key=lambda b: b[0])]

    def _logs(self, service: str | None = None) -> str:
        try:
            out = self.compose.execute("logs", "--no-color", "--tail", "30", *([service] if service else []),
                                       ignore_stderr=True)
            return out.decode("utf-8", "replace")
        except Exception as e:  # the logs are a courtesy on the failure path; never hide the real error
            return f"(docker compose logs failed: {e})"

    def stop(self) -> None:
        from grader.i18n import t

        if self.compose is None:  # never started: nothing to take down
            return
        try:
            # --rmi local: the image built under this run's project name goes too (a fixed tag stays).
            self.compose.execute("down", "-v", "--rmi", "local", "--remove-orphans", "--timeout", "10")
        except Exception as e:
            raise StackError("docker compose", t("docker.down_failed", cause=str(e))) from e
        finally:
            for folder in (self.workdir, self.private):
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                    guard("-", "d", folder)
