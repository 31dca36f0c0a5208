"""``local`` backend: real MariaDB/MySQL, MinIO and MLflow servers as child processes.

Each service gets a fresh temp dir, a free port on 127.0.0.1 and random credentials. A failed start
stops whatever had already started and removes the temp dir.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import port_for

from grader.stack.base import ServiceProcess, StackError, StackInfo, http_ok
from grader.stack.mlflow_server import start_mlflow_server

DB_NAME = "mlflow"
BUCKET = "mlflow"
_SEARCH = ["/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/mysql/bin", str(Path.home() / "go/bin")]


def find_binary(*names: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_SEARCH)
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def missing_binaries() -> list[str]:
    """What the local backend lacks on this machine (empty when it can run)."""
    missing = []
    if not find_binary("mariadbd", "mysqld"):
        missing.append("mariadbd/mysqld (apt-get install mariadb-server, or scripts/install-local-stack.sh)")
    if not find_binary("minio"):
        missing.append("minio (scripts/install-local-stack.sh)")
    return missing


def free_port(name: str, wanted: int | None) -> int:
    if wanted:
        # Not port_for.is_available: it also refuses free ports that are IANA-registered (5000, 3306, 9000).
        if port_for.port_is_used(wanted):
            from grader.i18n import t

            raise StackError(name, t("stack.port_busy", port=wanted, option=f"--{name}-port"))
        return wanted
    return port_for.select_random()


class LocalStack:
    name = "local"

    def __init__(self, base_dir: Path | None = None, ports: dict | None = None, timeout: float = 120.0):
        self.base_dir = base_dir
        self.ports = ports or {}
        self.timeout = timeout
        self.services: list[ServiceProcess] = []
        self.workdir: Path | None = None
        self.info: StackInfo | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> StackInfo:
        missing = missing_binaries()
        if missing:
            raise StackError("local", "missing programs: " + "; ".join(missing))
        self.workdir = Path(tempfile.mkdtemp(prefix="handson-local-", dir=self.base_dir))
        try:
            db = self._start_db()
            s3 = self._start_minio()
            self.info = self._start_mlflow(db, s3)
            return self.info
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        if self.workdir and not os.environ.get("HANDSON_KEEP_STACK_DIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- MariaDB / MySQL -------------------------------------------------------------------------
    def _start_db(self) -> dict:
        mysqld = find_binary("mariadbd", "mysqld")
        is_mariadb = "mariadb" in Path(mysqld).name or b"MariaDB" in subprocess.run(
            [mysqld, "--version"], capture_output=True
        ).stdout
        datadir = self.workdir / "db"
        log = self.workdir / "mysqld.log"
        _initialise_datadir(mysqld, is_mariadb, datadir, log)
        port = free_port("mysql", self.ports.get("mysql"))
        sock = self.workdir / "mysqld.sock"
        argv = [
            mysqld, "--no-defaults", f"--datadir={datadir}", f"--port={port}", "--bind-address=127.0.0.1",
            f"--socket={sock}", f"--pid-file={self.workdir / 'mysqld.pid'}", "--skip-log-bin",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin",
            "--innodb-buffer-pool-size=64M", "--skip-name-resolve",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")
        if is_mariadb:
            argv.append("--innodb-log-file-size=16M")
        else:
            argv.append("--mysqlx=OFF")
        service = ServiceProcess("mysql", argv, log).start()
        self.services.append(service)

        import pymysql

        def root_login():
            pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=2).close()
            return True

        service.wait_ready(root_login, self.timeout, "root login on its socket")
        creds = {"port": port, "user": "mlflow", "password": secrets.token_hex(16),
                 "ro_user": "grader", "ro_password": secrets.token_hex(16)}
        conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                # MariaDB's anonymous ''@'localhost' would shadow 'user'@'%': drop it, grant per host.
                cur.execute("SELECT user, host FROM mysql.user WHERE user = ''")
                for user, host in cur.fetchall():
                    cur.execute("DROP USER %s@%s", (user, host))
                cur.execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                for host in ("localhost", "127.0.0.1"):
                    cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", ("mlflow", host, creds["password"]))
                    cur.execute(f"GRANT ALL PRIVILEGES ON {DB_NAME}.* TO 'mlflow'@'{host}'")
                    cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", ("grader", host, creds["ro_password"]))
                    cur.execute(f"GRANT SELECT ON {DB_NAME}.* TO 'grader'@'{host}'")
        finally:
            conn.close()
        return creds

    # -- MinIO -----------------------------------------------------------------------------------
    def _start_minio(self) -> dict:
        minio_bin = find_binary("minio")
        port = free_port("minio", self.ports.get("minio"))
        console = port_for.select_random()
        user, password = "handson-" + secrets.token_hex(4), secrets.token_hex(16)
        env = dict(os.environ, MINIO_ROOT_USER=user, MINIO_ROOT_PASSWORD=password,
                   MINIO_BROWSER="off", MINIO_UPDATE="off", MINIO_CI_CD="1")
        argv = [minio_bin, "server", str(self.workdir / "minio"), "--address", f"127.0.0.1:{port}",
                "--console-address", f"127.0.0.1:{console}", "--quiet"]
        service = ServiceProcess("minio", argv, self.workdir / "minio.log", env=env).start()
        self.services.append(service)
        endpoint = f"127.0.0.1:{port}"
        service.wait_ready(lambda: http_ok(f"http://{endpoint}/minio/health/ready"), self.timeout,
                           "GET /minio/health/ready answered 200")
        from minio import Minio

        client = Minio(endpoint, access_key=user, secret_key=password, secure=False)
        client.make_bucket(BUCKET)
        return {"endpoint": endpoint, "access_key": user, "secret_key": password}

    # -- MLflow ----------------------------------------------------------------------------------
    def _start_mlflow(self, db: dict, s3: dict) -> StackInfo:
        port = free_port("mlflow", self.ports.get("mlflow"))
        backend = f"mysql+pymysql://{db['user']}:{db['password']}@127.0.0.1:{db['port']}/{DB_NAME}"
        env = {
            "MLFLOW_S3_ENDPOINT_URL": f"http://{s3['endpoint']}",
            "AWS_ACCESS_KEY_ID": s3["access_key"],
            "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        server = start_mlflow_server(self.workdir, port, backend, f"s3://{BUCKET}", env, self.timeout)
        self.services.append(server)
        return StackInfo(
            backend="local",
            tracking_uri=f"http://127.0.0.1:{port}",
            db_url=f"mysql+pymysql://grader:{db['ro_password']}@127.0.0.1:{db['port']}/{DB_NAME}",
            s3_endpoint=s3["endpoint"],
            s3_access_key=s3["access_key"],
            s3_secret_key=s3["secret_key"],
            bucket=BUCKET,
            logs={s.name: str(s.log) for s in self.services},
            pids={s.name: s.pid for s in self.services},
            owner_pid=os.getpid(),
        )


def _template_dir(mysqld: str) -> Path:
    version = subprocess.run([mysqld, "--version"], capture_output=True, text=True).stdout
    tag = "".join(c if c.isalnum() else "-" for c in version.split(" Ver ")[-1].split(" for ")[0]).strip("-")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlflow-handson" / f"datadir-{tag}"


def _initialise_datadir(mysqld: str, is_mariadb: bool, datadir: Path, log: Path) -> None:
    """Copy a cached, freshly initialised system datadir (initialising it once takes seconds)."""
    template = _template_dir(mysqld)
    if not (template / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix="datadir-", dir=_ensure_parent(template)))
        target = staging / "data"
        if is_mariadb:
            install = find_binary("mariadb-install-db", "mysql_install_db")
            argv = [install, "--no-defaults", f"--datadir={target}", "--auth-root-authentication-method=normal",
                    "--skip-test-db"]
            if os.geteuid() == 0:
                argv.append("--user=root")
        else:
            argv = [mysqld, "--no-defaults", "--initialize-insecure", f"--datadir={target}"]
            if os.geteuid() == 0:
                argv.append("--user=root")
        with open(log, "ab") as out:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise StackError("mysql", f"initialising a data directory failed ({argv[0]})", log)
        (target / ".complete").touch()
        try:
            os.rename(target, template)
        except OSError:  # another process won the race; its copy is as good as ours
            pass
        shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(template, datadir, ignore=shutil.ignore_patterns(".complete"))


def _ensure_parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent
