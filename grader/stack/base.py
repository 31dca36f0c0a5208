"""What every stack backend is and hands to the grader, and the process handling they share.

A backend satisfies ``StackBackend``: ``start() -> StackInfo`` and ``stop()``. ``StackInfo`` is plain data:
it is written to the stack file by ``python -m grader stack up`` and passed to pytest-xdist workers, so it
must round-trip through JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable


class StackError(Exception):
    """The stack (not the learner) failed: names the service, the cause and the tail of its log."""

    def __init__(self, service: str, cause: str, log: Path | str | None = None, tail: str = ""):
        self.service = service
        self.cause = cause
        self.log = str(log) if log else None
        self.tail = tail or (tail_of(Path(log)) if log else "")
        super().__init__(self.describe())

    def describe(self) -> str:
        from grader.i18n import cause, t

        text = t("stack.failed", service=self.service, cause=cause(self.cause))
        if self.log:
            text += "\n" + t("stack.log", log=self.log)
        if self.tail:
            text += "\n" + indent(self.tail)
        return text


def indent(text: str, prefix: str = "    | ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def tail_of(path: Path, lines: int = 25, max_bytes: int = 16384) -> str:
    """The last lines of a (possibly huge) log file, read from its end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


@dataclasses.dataclass(frozen=True)
class StackInfo:
    """Endpoints of a running stack. Secrets here go to the grader only, never to a learner's script."""

    backend: str
    tracking_uri: str
    # SQLAlchemy URL of the tracking database for the grader (read-only account where there are accounts)
    db_url: str
    # Artifact store: an S3 endpoint (MinIO) or, for ``embedded``, a local folder.
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    bucket: str | None = None
    artifact_dir: str | None = None
    # service name -> log file, for messages when something breaks
    logs: dict = dataclasses.field(default_factory=dict)
    # service name -> pid (local/embedded), so "stack down" and the fault tests can find them
    pids: dict = dataclasses.field(default_factory=dict)
    owner_pid: int | None = None
    # MLflow's access control (basic-auth app): the grader's admin account; None where it is off.
    admin_user: str | None = None
    admin_password: str | None = None
    # the auth app's own database (who owns which experiment / registered model), read by the grader
    auth_db_url: str | None = None
    # other secrets of this stack (account passwords, keys) that must never reach a script or a report
    secrets: list = dataclasses.field(default_factory=list)
    # where the stack's watchdog records restarts (stacks that heal themselves); None elsewhere
    events_file: str | None = None
    # service name -> the unprivileged uid it runs as (stacks the grader runs as root); empty elsewhere
    service_uids: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "StackInfo":
        data = json.loads(text)
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})

    @property
    def artifact_store_label(self) -> str:
        if self.bucket:
            from grader.i18n import t  # the label goes inside messages: in the reader's language

            return t("store.label", bucket=self.bucket, endpoint=self.s3_endpoint)
        return str(self.artifact_dir)


@runtime_checkable
class StackBackend(Protocol):
    """One way of getting a stack: the interface every backend of ``grader.stack.REGISTRY`` implements.

    A backend is built with keywords only, each optional: ``ports`` (service -> fixed port), ``timeout``
    (seconds each service may take to become ready), ``access_control`` (MLflow's basic-auth app), and
    ``compose_files`` for ``docker``. Building one starts nothing and changes nothing in this process.

    There is deliberately no third method (say ``facts()`` for the services and their logs): everything a
    caller needs about a running stack is in the ``StackInfo`` that ``start`` returns (``logs``, ``pids``,
    ``events_file``, ``secrets``), because most readers never hold the backend object: pytest-xdist workers,
    ``--stack external`` and ``python -m grader stack info`` get the ``StackInfo`` through JSON only.
    """

    #: the name ``--stack`` and ``python -m grader stack up --backend`` know it by (its registry key)
    name: str

    def start(self) -> StackInfo:
        """Bring the stack up and wait until every service answers; on failure raise ``StackError`` naming
        the service, having stopped whatever had started."""
        ...

    def stop(self) -> None:
        """Stop what ``start`` started and remove its files; safe after a failed or partial start, and a no-op
        for a stack that belongs to someone else."""
        ...


def cache_dir() -> Path:
    """Where the grader keeps what outlives one run (the stack file, MariaDB's initialised datadir): the XDG
    cache folder, ``$XDG_CACHE_HOME/mlflow-handson`` or ``~/.cache/mlflow-handson`` when that is unset or empty.

    Hand-written rather than ``platformdirs.user_cache_path``: on Linux it is the same folder, and elsewhere
    platformdirs would move it (``~/Library/Caches`` on macOS), for no simpler code than this one rule.
    """
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlflow-handson"


def alive(pid: int | None) -> bool:
    """The process ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    if not pid:
        return False
    try:
        import psutil

        proc = psutil.Process(pid)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.AccessDenied:
        return True
    except psutil.Error:  # no such process, or it vanished while we looked
        return False


def http_ok(url: str, timeout: float = 2.0, headers: dict | None = None) -> bool:
    """``GET url`` answers 200 within ``timeout`` (an HTTP error, a refused or hung connection: False)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


# What a service inherits from the grader's environment: nothing else (the instructor's shell may hold
# tokens and passwords that no service needs).
_SERVICE_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")


def service_env(**extra: str) -> dict:
    env = {k: os.environ[k] for k in _SERVICE_ENV if k in os.environ}
    env.update(MLFLOW_DISABLE_TELEMETRY="true")  # no network to send it to; see runner.submission_env
    env.update(extra)
    return env


def _die_with_parent() -> list[str]:
    """A prefix that makes the service die when the grader dies, even by SIGKILL (util-linux setpriv)."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


# Stops the services' process groups when the grader dies, however it dies (SIGKILL included): a separate
# small process reads a pipe from the grader and, at end of file, kills every group still listed.
# pdeathsig alone reaches only the service's first process, not the workers it forks (uvicorn's).
# Hand-written: no library ties a process group's life to another process's.
_GUARD_CODE = """
import os, shutil, signal, sys
groups, dirs = set(), set()
for line in sys.stdin:
    op, kind, value = line[0], line[1], line[2:].rstrip("\\n")
    items = groups if kind == "g" else dirs
    (items.add if op == "+" else items.discard)(int(value) if kind == "g" else value)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
for path in dirs:
    shutil.rmtree(path, ignore_errors=True)
"""
_guard: subprocess.Popen | None = None
_guard_owner: int | None = None
# Services start from several threads (MinIO beside the database; the watchdog's restarts): one guard, whole lines.
_guard_lock = threading.Lock()


def guard(op: str, kind: str, value) -> None:
    """Tell the guard to watch (``+``) or forget (``-``) a process group (``g``) or a temp folder (``d``)."""
    global _guard, _guard_owner
    if sys.platform == "win32":
        return
    with _guard_lock:
        if _guard is None or _guard.poll() is not None or _guard_owner != os.getpid():
            _guard = subprocess.Popen([sys.executable, "-S", "-c", _GUARD_CODE], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                      env={"PATH": os.environ.get("PATH", "")})
            _guard_owner = os.getpid()
        try:
            _guard.stdin.write(f"{op}{kind}{value}\n".encode())
            _guard.stdin.flush()
        except (OSError, ValueError):
            pass


def outlives_services(thread: threading.Thread) -> threading.Thread:
    """Mark ``thread`` as one that lives as long as the services it starts (the watchdog)."""
    thread.outlives_services = True
    return thread


def _refuse_short_lived_thread(name: str) -> None:
    """A service may be started only from the main thread or one marked with ``outlives_services``.

    The kernel's parent-death signal (setpriv's ``--pdeathsig``, bubblewrap's ``--die-with-parent``) fires
    when the *thread* that started the process ends, not the process. A service started from a helper thread
    is killed when that thread returns, and whatever restarts it races the first copy (seen: MinIO started
    beside the database, killed, restarted by the watchdog, the first one orphaned on the same port). Refused
    here, loudly, so that the next parallel start fails in the suite's tests instead of in a learner's stack."""
    here = threading.current_thread()
    if here is threading.main_thread() or getattr(here, "outlives_services", False):
        return
    raise RuntimeError(f"{name} would be started from thread {here.name!r}, which ends before the service: "
                       "its parent-death signal would kill it then (start services from the main thread)")


class ServiceProcess:
    """One server as a child process: own process group, log file, readiness that watches the process.

    Hand-written rather than mirakuru: we need the log in a file (servers can be chatty), readiness
    predicates that are not HTTP (a SQL login), and failure messages that carry the log tail; and mirakuru
    starts every process with a copy of the grader's whole ``os.environ``, where a service must get only its
    allowlist (``service_env``: the instructor's shell may hold tokens no service needs).
    """

    def __init__(self, name: str, argv: list[str], log: Path, env: dict | None = None, cwd: Path | None = None,
                 port: int | None = None):
        self.name = name
        # the TCP port it serves: "ready" also means this process group, not another one, listens there
        self.port = port
        self.argv = argv
        self.log = log
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        # the readiness probe given to wait_ready (each with its own short timeout), reused by restarts and by
        # the watchdog
        self.ready: Callable[[], bool] | None = None
        # the watchdog's probe instead, where a running service is checked for less than a start waits for
        # (MLflow: /health, not its database); None: ``ready``
        self.live: Callable[[], bool] | None = None
        self.what = ""

    def start(self) -> "ServiceProcess":
        _refuse_short_lived_thread(self.name)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            try:
                self.proc = subprocess.Popen(
                    _die_with_parent() + self.argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env if self.env is not None else service_env(),
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as e:
                raise StackError(self.name, f"cannot start {self.argv[0]}: {e}") from e
        guard("+", "g", self.proc.pid)
        return self

    @property
    def pid(self) -> int | None:
        """The server's own process (under bubblewrap: the child it started, not bubblewrap itself)."""
        return _main_pid(self.proc.pid) if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
        """Poll ``ready`` until it is true; fail at once if the process exits, or at the deadline.

        A plain loop rather than tenacity's ``Retrying``: the process check must stop the wait at once and the
        deadline must raise a ``StackError`` with the log, which as stop/retry predicates read no simpler."""
        if self.port is not None and not getattr(ready, "checks_port", False):
            answers = ready

            def ready() -> bool:
                return self.holds_port() and answers()

            ready.checks_port = True
        self.ready, self.what = ready, what
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                code = self.proc.returncode if self.proc else None
                raise StackError(self.name, f"exited with code {code} before {what}", self.log)
            try:
                if ready():
                    return
            except Exception:  # a readiness probe may raise while the server warms up; keep polling
                pass
            if time.monotonic() > deadline:
                raise StackError(self.name, f"not ready after {timeout:.0f} s ({what})", self.log)
            time.sleep(interval)

    def holds_port(self) -> bool:
        """Whether the listener on ``port`` is this service's (after a restart, not a process that took the
        freed port first)."""
        owner = port_owner(self.port)
        if owner is None or self.proc is None:
            return False
        try:
            return os.getpgid(owner) == os.getpgid(self.proc.pid)
        except OSError:
            return False

    def restart(self, timeout: float) -> None:
        """Kill what is left of it (SIGKILL reaches a stopped process too) and start it again on the same
        command line: the same data folder, the same port."""
        if self.proc is not None:
            kill_group(self.proc, timeout=0.5)
            guard("-", "g", self.proc.pid)
        self.start()
        self.wait_ready(self.ready or (lambda: True), timeout, self.what or "ready again")

    def stop(self, timeout: float = 10.0) -> None:
        if not self.proc:
            return
        kill_group(self.proc, timeout)
        guard("-", "g", self.proc.pid)


def port_owner(port: int | None) -> int | None:
    """The pid listening on 127.0.0.1:``port`` (None: nobody, or not visible to this user)."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def port_user(port: int | None) -> int | None:
    """The uid of the process listening on ``port`` (None when unknown)."""
    import psutil

    pid = port_owner(port)
    try:
        return psutil.Process(pid).uids().real if pid else None
    except psutil.Error:
        return None


def _main_pid(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        for _ in range(3):
            if proc.name() != "bwrap":
                break
            children = proc.children()
            if len(children) != 1:
                break
            proc = children[0]
        return proc.pid
    except psutil.Error:
        return pid


def kill_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left of it after ``timeout``."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if pgid is not None:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The leader may be gone while members of its group live on: finish them.
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
