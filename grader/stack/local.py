"""``local`` backend: real MariaDB/MySQL, MinIO and MLflow servers as child processes.

Each service gets a free port on 127.0.0.1, random credentials and a folder of its own in the stack's temp
dir; when the grader is root each runs as a fresh unprivileged uid of its own that can write only that
folder (grader/sandbox.py ``service_argv``: under bubblewrap it does not even see /tmp or the checkout).
The logs stay the grader's. A failed start stops whatever had already started and removes the temp dir.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import port_for

from grader import sandbox
from grader.config import STACK_TIMEOUT
from grader.stack.auth import auth_setup
from grader.stack.base import ServiceProcess, StackError, StackInfo, cache_dir, guard, http_ok, service_env
from grader.stack import schema
from grader.stack.mlflow_server import await_mlflow_server, migrate_schema, start_mlflow_server
from grader.stack.watchdog import Watchdog

DB_NAME = "mlflow"
# The server's cap, and each account's (MLflow's, the reader's, the migration's): three accounts together
# stay below the server's cap, so no one of them can lock the others out by holding connections.
MAX_CONNECTIONS, USER_CONNECTIONS = 200, 60
BUCKET = "mlflow"
_SEARCH = ["/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/mysql/bin", str(Path.home() / "go/bin")]


def find_binary(*names: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_SEARCH)
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def missing_programs() -> list[str]:
    """The message keys of what the local backend lacks on this machine (empty when it can run)."""
    missing = []
    if not find_binary("mariadbd", "mysqld"):
        missing.append("local.missing_mariadb")
    if not find_binary("minio"):
        missing.append("local.missing_minio")
    return missing


def missing_text(keys: list[str]) -> str:
    """What ``missing_programs`` found, as one phrase in the reader's language."""
    from grader.i18n import t

    return t("auto.sep").join(t(key) for key in keys)


def missing_binaries() -> list[str]:
    """What the local backend lacks on this machine, in English (empty when it can run)."""
    from grader.i18n import t_in

    return [t_in("en", key) for key in missing_programs()]


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

    def __init__(self, base_dir: Path | None = None, ports: dict | None = None, timeout: float = STACK_TIMEOUT,
                 access_control: bool = True):
        self.base_dir = base_dir
        self.access_control = access_control
        self.ports = ports or {}
        self.timeout = timeout
        self.services: list[ServiceProcess] = []
        self.workdir: Path | None = None
        self.info: StackInfo | None = None
        self.watchdog: Watchdog | None = None
        first = sandbox.service_uid()
        self.isolated = first != os.getuid()
        # each service's uid: three fresh ones when isolated, else the grader's own for all three
        self.uids = {name: first + (i if self.isolated else 0) for i, name in enumerate(("mysql", "minio", "mlflow"))}

    def _folder(self, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir(mode=0o700)
        return folder

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> StackInfo:
        missing = missing_programs()
        if missing:
            from grader.i18n import t

            raise StackError("local", t("cause.missing_programs", programs=missing_text(missing)))
        self.workdir = Path(tempfile.mkdtemp(prefix="handson-local-", dir=self.base_dir))
        self.workdir.chmod(0o711)  # each service enters it to reach its own folder, none can list it
        guard("+", "d", self.workdir)
        try:
            # All three start at once, each with the ports and keys chosen here: MLflow's workers import MLflow
            # (its longest part) while the database starts and gets MLflow's schema and MinIO gets its bucket;
            # nothing in MLflow opens its store before the first request, and none comes until both are ready.
            # Every process is started from this thread: bubblewrap's --die-with-parent (PR_SET_PDEATHSIG) fires
            # when the *thread* that started it ends, so only MinIO's wait and keys run in the other thread.
            db, s3 = self._db_accounts(), self._launch_minio()
            mlflow, auth = self._launch_mlflow(db, s3)
            minio = _Beside(lambda: self._configure_minio(s3))
            try:
                self._start_db(db)
                self._create_schema(db)
            except BaseException:
                minio.wait()  # the database's failure is the one told; MinIO is stopped with the rest
                raise
            minio.result()
            await_mlflow_server(mlflow, self.timeout)
            self.info = self._stack_info(db, s3, mlflow, auth)
            self.watchdog = Watchdog(self.services, Path(self.info.events_file), self.timeout)
            self.watchdog.start()
            return self.info
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        if self.workdir and not os.environ.get("HANDSON_KEEP_STACK_DIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self.workdir:
            guard("-", "d", self.workdir)

    # -- MariaDB / MySQL -------------------------------------------------------------------------
    def _db_accounts(self) -> dict:
        """The database's port and accounts, chosen before any service starts (MLflow gets its own).
        Least privilege: root gets a random password and only the socket (in this stack's private folder); a
        migration account creates MLflow's schema once; the server keeps only row rights; the grader reads
        with SELECT."""
        return {"port": free_port("mysql", self.ports.get("mysql")), "root_password": secrets.token_hex(16),
                "user": "mlflow", "password": secrets.token_hex(16),
                "migrate_user": "mlflow_migrate", "migrate_password": secrets.token_hex(16),
                "ro_user": "grader", "ro_password": secrets.token_hex(16)}

    def _start_db(self, creds: dict) -> None:
        mysqld = find_binary("mariadbd", "mysqld")
        is_mariadb = "mariadb" in Path(mysqld).name or b"MariaDB" in subprocess.run(
            [mysqld, "--version"], capture_output=True
        ).stdout
        home = self._folder("mysql")
        datadir = home / "data"
        log = self.workdir / "mysqld.log"
        _initialise_datadir(mysqld, is_mariadb, datadir, log)
        port = creds["port"]
        sock = home / "mysqld.sock"
        argv = [
            mysqld, "--no-defaults", f"--datadir={datadir}", f"--port={port}", "--bind-address=127.0.0.1",
            f"--socket={sock}", f"--pid-file={home / 'mysqld.pid'}", "--skip-log-bin",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin",
            "--innodb-buffer-pool-size=64M", "--skip-name-resolve",
            # Unauthenticated connections are dropped fast; accounts have connection caps (below).
            "--connect-timeout=5", f"--max-connections={MAX_CONNECTIONS}",
        ]
        if os.geteuid() == 0 and not self.isolated:
            argv.append("--user=root")
        if is_mariadb:
            argv.append("--innodb-log-file-size=16M")
        else:
            argv.append("--mysqlx=OFF")
        argv = sandbox.service_argv(self.uids["mysql"], argv, [home])
        service = ServiceProcess("mysql", argv, log, env=service_env(HOME=str(home)), port=port).start()
        self.services.insert(0, service)  # stopped last

        import pymysql

        def root_login():
            pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=2).close()
            return True

        service.wait_ready(root_login, self.timeout, "root login on its socket")
        conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                # MariaDB's anonymous ''@'localhost' would shadow 'user'@'%'; root over TCP is not needed.
                cur.execute("SELECT user, host FROM mysql.user WHERE user = '' OR (user = 'root' AND host <> 'localhost')")
                for user, host in cur.fetchall():
                    cur.execute("DROP USER %s@%s", (user, host))
                cur.execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                for host in ("localhost", "127.0.0.1"):
                    for user, password, rights in (
                            ("mlflow_migrate", creds["migrate_password"], "ALL PRIVILEGES"),
                            ("mlflow", creds["password"], "SELECT, INSERT, UPDATE, DELETE"),
                            ("grader", creds["ro_password"], "SELECT")):
                        cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
                        cur.execute(f"GRANT {rights} ON {DB_NAME}.* TO '{user}'@'{host}' "
                                    f"WITH MAX_USER_CONNECTIONS {USER_CONNECTIONS}")
                cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (creds["root_password"],))
                cur.execute("SELECT VERSION()")
                creds["server_version"] = cur.fetchone()[0]
        finally:
            conn.close()
        # From now on "ready" means: the grader's account gets an answer over TCP, within seconds.
        service.ready = lambda: service.holds_port() and _mysql_ping(port, "grader", creds["ro_password"])

    def _create_schema(self, db: dict) -> None:
        """MLflow's tables, with the migration account: replayed from the snapshot of an earlier stack's
        migration when there is one (grader/stack/schema.py), else migrated — and then snapshotted."""
        import pymysql

        def connect():
            return pymysql.connect(host="127.0.0.1", port=db["port"], user=db["migrate_user"],
                                   password=db["migrate_password"], database=DB_NAME, connect_timeout=10)

        path = schema.snapshot_path(db["server_version"])
        snapshot = schema.load(path)
        if snapshot is not None:
            conn = connect()
            try:
                schema.replay(conn, DB_NAME, snapshot, self.workdir)
                return
            except pymysql.MySQLError:
                # Not this server's SQL after all: forget the snapshot; this stack migrates on an empty database.
                path.unlink(missing_ok=True)
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE {DB_NAME}")
                    cur.execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            finally:
                conn.close()
        url = f"mysql+pymysql://{db['migrate_user']}:{db['migrate_password']}@127.0.0.1:{db['port']}/{DB_NAME}"
        migrate_schema(url, self.workdir)
        conn = connect()
        try:
            snapshot = schema.capture(conn, DB_NAME, self.workdir)
        finally:
            conn.close()
        if snapshot is not None:
            try:
                schema.save(snapshot, path)
            except OSError:  # a read-only cache: every stack migrates, as before
                pass

    # -- MinIO -----------------------------------------------------------------------------------
    def _launch_minio(self) -> dict:
        """MinIO's process, and its keys: the root keys stay with this process; MLflow gets a key for its
        bucket, the grader a read-only one (made by ``_configure_minio`` once MinIO answers)."""
        minio_bin = find_binary("minio")
        port = free_port("minio", self.ports.get("minio"))
        console = port_for.select_random()
        user, password = "handson-" + secrets.token_hex(4), secrets.token_hex(16)
        home = self._folder("minio")
        (home / "data").mkdir()
        env = service_env(MINIO_ROOT_USER=user, MINIO_ROOT_PASSWORD=password, HOME=str(home),
                          MINIO_BROWSER="off", MINIO_UPDATE="off", MINIO_CI_CD="1")
        argv = [minio_bin, "server", str(home / "data"), "--address", f"127.0.0.1:{port}",
                "--console-address", f"127.0.0.1:{console}", "--quiet"]
        argv = sandbox.service_argv(self.uids["minio"], argv, [home])
        service = ServiceProcess("minio", argv, self.workdir / "minio.log", env=env, port=port).start()
        self.services.append(service)
        return {"service": service, "endpoint": f"127.0.0.1:{port}", "root_user": user, "root_password": password,
                **{who: (f"{who}-{secrets.token_hex(4)}", secrets.token_hex(16)) for who in ("mlflow", "grader")}}

    def _configure_minio(self, s3: dict) -> None:
        service, endpoint, user, password = s3["service"], s3["endpoint"], s3["root_user"], s3["root_password"]
        service.wait_ready(lambda: http_ok(f"http://{endpoint}/minio/health/ready"), self.timeout,
                           "GET /minio/health/ready answered 200")
        from minio import Minio

        Minio(endpoint, access_key=user, secret_key=password, secure=False).make_bucket(BUCKET)
        try:
            for who, actions in (("mlflow", ["s3:*"]), ("grader", ["s3:GetObject", "s3:ListBucket",
                                                                   "s3:GetBucketLocation"])):
                _minio_user(endpoint, user, password, who, s3[who], actions)
        except Exception as e:
            raise StackError("minio", f"creating the bucket-scoped keys failed: {e}", service.log) from e

    # -- MLflow ----------------------------------------------------------------------------------
    def _launch_mlflow(self, db: dict, s3: dict) -> tuple[ServiceProcess, object]:
        """MLflow's process, started (not yet ready) on the database and MinIO that are to come; and its
        access control (None when off)."""
        port = free_port("mlflow", self.ports.get("mlflow"))
        url = "mysql+pymysql://{}:{}@127.0.0.1:" + f"{db['port']}/{DB_NAME}"
        mlflow_key = s3["mlflow"]
        env = {
            "MLFLOW_S3_ENDPOINT_URL": f"http://{s3['endpoint']}",
            "AWS_ACCESS_KEY_ID": mlflow_key[0],
            "AWS_SECRET_ACCESS_KEY": mlflow_key[1],
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        home = self._folder("mlflow")
        auth = auth_setup(home, guard=True) if self.access_control else None
        server = start_mlflow_server(home, port, url.format(db["user"], db["password"]), f"s3://{BUCKET}",
                                     env, self.timeout, auth=auth, log=self.workdir / "mlflow.log",
                                     uid=self.uids["mlflow"], wait=False)
        self.services.append(server)
        return server, auth

    def _stack_info(self, db: dict, s3: dict, mlflow: ServiceProcess, auth) -> StackInfo:
        mlflow_key, grader_key = s3["mlflow"], s3["grader"]
        return StackInfo(
            backend="local",
            tracking_uri=f"http://127.0.0.1:{mlflow.port}",
            db_url=f"mysql+pymysql://{db['ro_user']}:{db['ro_password']}@127.0.0.1:{db['port']}/{DB_NAME}",
            s3_endpoint=s3["endpoint"],
            s3_access_key=grader_key[0],
            s3_secret_key=grader_key[1],
            bucket=BUCKET,
            logs={s.name: str(s.log) for s in self.services},
            pids={s.name: s.pid for s in self.services},
            owner_pid=os.getpid(),
            admin_user=auth.admin_user if auth else None,
            admin_password=auth.admin_password if auth else None,
            auth_db_url=auth.db_url_readonly if auth else None,
            events_file=str(self.workdir / "events.jsonl"),
            service_uids=dict(self.uids) if self.isolated else {},
            secrets=[db["root_password"], db["password"], db["migrate_password"], s3["root_password"],
                     mlflow_key[1], mlflow_key[0], s3["root_user"], *(auth.secrets if auth else [])],
        )


class _Beside:
    """``work()`` in a thread of its own; ``result()`` waits for it and returns its value or raises its error.
    Waiting even when the caller failed meanwhile keeps what it started in the stack's list (stopped with it)."""

    def __init__(self, work):
        self._value = self._error = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True, name="handson-beside")
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self._value = work()
        except BaseException as e:  # handed to the caller, who decides
            self._error = e

    def wait(self) -> None:
        self._thread.join()

    def result(self):
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value


def _mysql_ping(port: int, user: str, password: str) -> bool:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, connect_timeout=2,
                           read_timeout=3, write_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    finally:
        conn.close()


def _minio_user(endpoint: str, root_user: str, root_password: str, who: str, key: tuple[str, str],
                actions: list[str]) -> None:
    """A MinIO user whose policy allows ``actions`` on the artifact bucket only."""
    from minio.credentials import StaticProvider
    from minio.minioadmin import MinioAdmin

    admin = MinioAdmin(endpoint=endpoint, credentials=StaticProvider(root_user, root_password), secure=False)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": actions,
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}]}
    # MinIO's IAM may not know a policy the instant it was added (seen: XMinioAdminNoSuchPolicy, even after 5 s
    # of retries under load: the IAM's first load from disk can finish after the add and drop it from memory).
    # So each retry adds the policy and the user again (both idempotent) before attaching.
    # (A plain loop: tenacity would not make it shorter, and would be a dependency for this one loop.)
    deadline = time.monotonic() + 30
    while True:
        admin.policy_add(f"handson-{who}", policy=policy)
        admin.user_add(key[0], key[1])
        try:
            admin.attach_policy([f"handson-{who}"], user=key[0])
            return
        except Exception as e:
            if not ("NoSuchPolicy" in str(e) or "NoSuchUser" in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _template_dir(mysqld: str) -> Path:
    version = subprocess.run([mysqld, "--version"], capture_output=True, text=True).stdout
    tag = "".join(c if c.isalnum() else "-" for c in version.split(" Ver ")[-1].split(" for ")[0]).strip("-")
    return cache_dir() / f"datadir-{tag}"


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
