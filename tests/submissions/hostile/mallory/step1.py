"""Hostile step 1: hunt for the stack's secrets."""
import glob
import os

from _common import attempt, finish, listening_ports, secrets_in_environs


@attempt("read other processes' environment")
def environs():
    return secrets_in_environs()


@attempt("see the services' processes")
def services():
    seen = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if any(word in cmd for word in ("mariadbd", "mysqld", "minio server", "mlflow server")):
                seen.append(cmd[:60])
    return seen


@attempt("root over TCP without a password")
def root_login():
    import pymysql

    for port in listening_ports():
        try:
            pymysql.connect(host="127.0.0.1", port=port, user="root", password="", connect_timeout=1,
                            read_timeout=1, write_timeout=1).close()
            return f"port {port}"
        except Exception:
            continue
    return None


@attempt("read the recorded stack file and the grader's folders")
def stack_files():
    found = []
    for pattern in ("/root/.cache/mlflow-handson/*", "/home/*/.cache/mlflow-handson/*", "/tmp/handson-*/*",
                    "/tmp/pytest-of-*/*/*/stack.json", "/tmp/*/basic_auth.ini"):
        for path in glob.glob(pattern):
            try:
                with open(path) as f:
                    found.append(path + ":" + f.read(80))
            except OSError:
                continue
    return found


@attempt("MinIO with its default keys")
def minio_default():
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=1), retries=False)
    for port in listening_ports():
        try:
            buckets = Minio(f"127.0.0.1:{port}", "minioadmin", "minioadmin", secure=False,
                            http_client=http).list_buckets()
            return f"port {port}: {[b.name for b in buckets]}"
        except Exception:
            continue
    return None


@attempt("secrets in my own environment")
def own_env():
    return [k for k in os.environ if any(w in k for w in ("AWS_", "MINIO_", "DB_URL", "STORE_URI", "ADMIN"))]


finish()
