"""Run one learner script the way the learner would: ``python stepN.py`` in the submission folder.

The submission contract: a fresh subprocess, cwd = the submission folder, a hard timeout, the four
HANDSON/MLFLOW variables, and none of the stack's secrets. Output is captured to a file with a cap
(head kept, tail kept, the middle counted), so a script printing gigabytes costs no memory.
A script that is missing, does not parse, raises or hangs becomes a graded result, never an error of
the grader.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import psutil

from grader import limits as _limits
from grader import netrelay, sandbox
from grader.stack.base import StackInfo, guard, kill_group

HEAD_BYTES = 256 * 1024
TAIL_BYTES = 64 * 1024
# How often a running script's ``stop_when`` is asked (seconds).
STOP_POLL = 1.0

# The script's environment is an allowlist (the submission contract): these names from the grader's own
# environment, then the contract's variables. Nothing else — whatever the instructor's shell holds.
_ALLOWED_NAMES = {"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "VIRTUAL_ENV"}
_ALLOWED_PREFIXES = ("LC_",)
REDACTED = "[redacted]"


def stack_secrets(info: StackInfo) -> list[str]:
    """Every secret the grader holds for this stack (never shown to a script, cut from its output)."""
    from sqlalchemy.engine import make_url

    values = [info.s3_secret_key, info.s3_access_key, info.admin_password, *info.secrets]
    try:
        values.append(make_url(info.db_url).password)
    except Exception:  # an unparsable URL has no password to protect
        pass
    return sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def submission_env(info: StackInfo, experiment: str, data_dir: Path, model_name: str, token: str,
                   credentials: tuple[str, str] | None = None) -> dict:
    secrets = stack_secrets(info)
    env = {k: v for k, v in os.environ.items()
           if (k in _ALLOWED_NAMES or k.startswith(_ALLOWED_PREFIXES)) and not any(s in v for s in secrets)}
    env.update(
        MLFLOW_TRACKING_URI=info.tracking_uri,
        HANDSON_EXPERIMENT=experiment,
        HANDSON_DATA_DIR=str(data_dir),
        HANDSON_MODEL_NAME=model_name,
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        # Marks every process the script starts, so leftovers can be found and stopped afterwards.
        HANDSON_RUN_TOKEN=token,
        # Artifacts travel through the MLflow server, never straight to the object store with presigned URLs:
        # a script's network namespace reaches only MLflow, and the server's guard refuses those routes.
        MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD="false",
        MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD="false",
        # MLflow's usage telemetry: nothing to send it to (no network), and its background thread sets and
        # unsets a variable of os.environ while the script's own thread may be iterating os.environ
        # (requests does, for proxies): "KeyError: '_MLFLOW_TELEMETRY_SESSION_ID'" failed a correct script.
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    if credentials:
        user, password = credentials
        env.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password, USER=user, LOGNAME=user)
    else:
        # getpass.getuser() (MLflow's default run user) fails for a uid without a passwd entry.
        env.update(USER="learner", LOGNAME="learner")
    return env


@dataclasses.dataclass
class ScriptResult:
    script: str
    exists: bool
    returncode: int | None = None
    timed_out: bool = False
    timeout: float = 0.0
    duration: float = 0.0
    started_ms: int = 0
    output: str = ""  # head (+ marker + tail) of stdout+stderr
    output_bytes: int = 0
    leftovers_killed: int = 0
    # an earlier attempt took its pytest-xdist worker down with it; the script is not run again
    worker_lost: bool = False
    # 0, or how many times it was run again because the stack had an outage meanwhile
    attempt: int = 0
    # the cap that stopped it (grader/limits.py: memory, pids, fsize) and that cap's value, or ""
    limit: str = ""
    limit_value: str = ""
    # restarts of the stack's services while it ran (watchdog events: time, service, cause, restarted), each
    # of which made the grader run it again (at most session.MAX_ATTEMPTS times in all)
    outages: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exists and not self.timed_out and not self.worker_lost and self.returncode == 0

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ScriptResult":
        return cls(**data)


class _Capture(threading.Thread):
    """Drains a pipe: keeps the first HEAD_BYTES and the last TAIL_BYTES, counts the rest."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.head = bytearray()
        self.tail = collections.deque()
        self.tail_size = 0
        self.total = 0

    def run(self):
        while True:
            chunk = self.pipe.read1(65536) if hasattr(self.pipe, "read1") else self.pipe.read(65536)
            if not chunk:
                break
            self.total += len(chunk)
            room = HEAD_BYTES - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail.append(chunk)
                self.tail_size += len(chunk)
                while self.tail_size - len(self.tail[0]) >= TAIL_BYTES:
                    self.tail_size -= len(self.tail.popleft())
        self.pipe.close()

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if not self.tail:
            return head
        tail = b"".join(self.tail)[-TAIL_BYTES:]
        skipped = self.total - len(self.head) - len(tail)
        marker = f"\n... [{skipped} bytes of output not kept] ...\n" if skipped > 0 else ""
        return head + marker + tail.decode("utf-8", "replace")


def _holds_pipe(proc: psutil.Process, pipe_link: str | None) -> bool:
    """Whether ``proc`` holds the write end of our output pipe (a child that dropped the marker but
    kept the script's stdout). Linux only; elsewhere the marker alone finds leftovers."""
    if pipe_link is None:
        return False
    fd_dir = f"/proc/{proc.pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"{fd_dir}/{fd}") != pipe_link:
                continue
            with open(f"/proc/{proc.pid}/fdinfo/{fd}") as info:
                flags = next((line.split()[1] for line in info if line.startswith("flags:")), "0")
            if int(flags, 8) & os.O_ACCMODE != os.O_RDONLY:
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def _kill_leftovers(token: str, pipe_link: str | None = None) -> int:
    """Stop processes the script left behind (daemonised children outlive their process group).

    A leftover is a process carrying the run's marker in its environment, or one still holding the
    script's output pipe. Passes repeat until one finds nothing, so a supervisor that restarts its
    worker between the scan and the kill is caught on the next pass.
    """
    killed = 0
    me = os.getpid()
    for _ in range(10):
        found = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == me:
                continue
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if proc.environ().get("HANDSON_RUN_TOKEN") == token or _holds_pipe(proc, pipe_link):
                    proc.kill()
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
                continue
        if not found:
            break
        killed += len(found)
        _wait_dead(found, timeout=2.0)
    return killed


def _wait_dead(procs: list, timeout: float) -> None:
    """Until each is gone or a zombie (an orphan is reaped by init, which in a container may never do it)."""
    deadline = time.monotonic() + timeout
    while procs and time.monotonic() < deadline:
        alive = []
        for proc in procs:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        procs = alive
        if procs:
            time.sleep(0.02)


def _pipe_link(pipe) -> str | None:
    try:
        return f"pipe:[{os.fstat(pipe.fileno()).st_ino}]"
    except (OSError, ValueError):
        return None


# What the hands-on's steps import, imported by a warm interpreter before the script's turn (grader/warm.py).
WARM_MODULES = ("mlflow", "mlflow.sklearn", "mlflow.exceptions", "numpy", "sklearn.linear_model")


def run_script(submission: Path, script_name: str, info: StackInfo, experiment: str, data_dir: Path,
               model_name: str, timeout: float, *, credentials: tuple[str, str] | None = None,
               plan: sandbox.Plan | None = None, base: Path | None = None,
               limits: _limits.Limits | None = None, warm: tuple[str, ...] | None = None) -> ScriptResult:
    """Run ``python script_name`` in a sandboxed copy of ``submission`` (see grader/sandbox.py).

    ``base`` is the grading run's sandbox folder (made here, and removed, when not given). With ``warm``
    the script runs from an interpreter that imported those modules first (``start_script`` starts it ahead)."""
    return start_script(submission, script_name, info, experiment, data_dir, model_name, timeout,
                        credentials=credentials, plan=plan, base=base, limits=limits, warm=warm).go()


def start_script(submission: Path, script_name: str, info: StackInfo, experiment: str, data_dir: Path,
                 model_name: str, timeout: float, *, credentials: tuple[str, str] | None = None,
                 plan: sandbox.Plan | None = None, base: Path | None = None,
                 limits: _limits.Limits | None = None, warm: tuple[str, ...] | None = None) -> "Pending":
    """Everything of ``run_script`` up to the script's first line: its box, its cgroup, and — ``warm`` — its
    interpreter, importing ``warm`` meanwhile. ``go()`` runs the script (its timeout starts then) and returns
    its result; ``abandon()`` ends it unused. Either removes everything the start made."""
    return Pending(submission, script_name, info, experiment, data_dir, model_name, timeout, credentials,
                   plan or sandbox.plan(), base, limits, warm)


class Pending:
    """A script's sandbox made ready for it (see ``start_script``)."""

    def __init__(self, submission, script_name, info, experiment, data_dir, model_name, timeout, credentials,
                 plan, base, limits, warm):
        script = submission / script_name
        self.submission, self.info, self.credentials = submission, info, credentials
        self.result = ScriptResult(script=str(script), exists=script.is_file(), timeout=timeout)
        self.done = not self.result.exists
        if self.done:
            return
        self.own_base = base is None
        self.base = base or sandbox.new_base(data_dir)
        relay_port = _loopback_port(info.tracking_uri) if sandbox.NETWORK_NAMESPACE else None
        self.box = sandbox.Box(plan, self.base, self.base / "data" if (self.base / "data").is_dir() else data_dir,
                               relay_port=relay_port, lim=limits, warm=bool(warm))
        self.group = None
        self.launch = None
        try:
            self.box.prepare(submission)
            self.group = _limits.Cgroup.create(uuid.uuid4().hex, self.box.limits)
            self.launch = _Launch(self.box, script_name, info, experiment, model_name, credentials, self.group,
                                  warm)
        except BaseException:
            self._close()
            raise

    def go(self, stop_when: Callable[[], bool] | None = None) -> ScriptResult:
        """Run the script to its end or its timeout. ``stop_when``, asked about once a second while it runs:
        True stops it early (the stack it talks to failed, so what it does next decides nothing)."""
        if self.done:
            return self.result
        try:
            self.launch.finish(self.result, stop_when)
        finally:
            self._close()
        secrets = stack_secrets(self.info) + ([self.credentials[1]] if self.credentials else [])
        # The learner knows their script by its own path, not by the sandbox's copy of it.
        self.result.output = redact(self.result.output, secrets).replace(str(self.box.cwd), str(self.submission))
        return self.result

    def abandon(self) -> None:
        if not self.done:
            try:
                if self.launch is not None:
                    self.launch.end_unused()
            finally:
                self._close()

    def _close(self) -> None:
        self.done = True
        if self.group is not None:
            self.result.limit = self.group.verdict(self.result.returncode, self.result.output) or ""
            self.result.limit_value = self.box.limits.shown(self.result.limit) if self.result.limit else ""
            self.result.leftovers_killed += self.group.close()
        # Its copy and HOME go as soon as it ends: nothing of a script outlives it (the server chooses
        # every artifact location, so none points into them).
        self.box.cleanup()
        if self.own_base:
            shutil.rmtree(self.base, ignore_errors=True)


def _wait(proc: subprocess.Popen, deadline: float, stop_when: Callable[[], bool] | None) -> None:
    """Wait for ``proc`` until ``deadline`` (then TimeoutExpired), or until ``stop_when()`` says True."""
    while True:
        left = deadline - time.monotonic()
        if stop_when is None or left <= STOP_POLL:
            proc.wait(timeout=max(left, 0.0))
            return
        try:
            proc.wait(timeout=STOP_POLL)
            return
        except subprocess.TimeoutExpired:
            if stop_when():
                return


def _loopback_port(uri: str) -> int | None:
    """MLflow's port when the server is on this machine's loopback (then a sandboxed script can get a
    network namespace of its own with just that port relayed in); None for a server elsewhere."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
        return (parts.port or 80) if parts.hostname in ("127.0.0.1", "localhost", "::1") else None
    except ValueError:
        return None


class _Launch:
    """The script's process, started: cold (``python script``, stdin at end of file) or warm (grader/warm.py
    importing ``warm``, then waiting for ``go`` on stdin)."""

    def __init__(self, box: sandbox.Box, script_name: str, info: StackInfo, experiment: str, model_name: str,
                 credentials, group: _limits.Cgroup, warm: tuple[str, ...] | None):
        self.box = box
        self.token = uuid.uuid4().hex
        env = box.env(submission_env(info, experiment, box.data_dir, model_name, self.token, credentials))
        self.relay = None
        if box.relay_socket:
            from urllib.parse import urlsplit

            self.relay = netrelay.Relay(box.relay_socket, (urlsplit(info.tracking_uri).hostname, box.relay_port))
            uri = urlsplit(env["MLFLOW_TRACKING_URI"])
            env["MLFLOW_TRACKING_URI"] = uri._replace(netloc=f"127.0.0.1:{box.relay_port}").geturl()
        command = [sys.executable, script_name]
        if warm:
            command = [sys.executable, str(box.warm_launcher), ",".join(warm), script_name]
        try:
            # The cgroup's wrapper is outermost: it moves itself into the script's cgroup, as root, then execs.
            self.proc = subprocess.Popen(group.wrap(box.argv(command)), cwd=box.cwd, env=env,
                                         stdin=subprocess.PIPE if warm else subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:
            if self.relay:
                self.relay.close()
            raise
        # Killed with the grader, even by SIGKILL: the guard stops the script's group. (bubblewrap's
        # --die-with-parent alone misses a grader killed before bubblewrap set it up: seen, a box left running.)
        guard("+", "g", self.proc.pid)
        self.pipe_link = _pipe_link(self.proc.stdout)
        self.capture = _Capture(self.proc.stdout)
        self.capture.start()

    def finish(self, result: ScriptResult, stop_when: Callable[[], bool] | None = None) -> None:
        """Let the script run (warm: say go) until it ends, its timeout, or ``stop_when()``; then stop what it
        left."""
        proc = self.proc
        # Milliseconds, like MLflow's own timestamps; one second of slack for clock granularity.
        result.started_ms = int(time.time() * 1000) - 1000
        start = time.monotonic()
        try:
            if proc.stdin is not None:
                try:
                    proc.stdin.write(b"go\n")
                    proc.stdin.close()
                except (BrokenPipeError, OSError):  # it ended already (its own error tells why)
                    pass
            _wait(proc, start + result.timeout, stop_when)
        except subprocess.TimeoutExpired:
            result.timed_out = True
        finally:
            self._stop(result)
        result.duration = time.monotonic() - start
        result.returncode = proc.returncode
        result.output = self.capture.text()
        result.output_bytes = self.capture.total

    def end_unused(self) -> None:
        """Close stdin without go (the warm interpreter exits), then stop it and what it left, as after a run."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        self._stop(ScriptResult(script="", exists=True))

    def _stop(self, result: ScriptResult) -> None:
        proc = self.proc
        kill_group(proc, timeout=3.0)
        # start_new_session made the script the leader of group ``proc.pid``. Once the script has exited
        # and been reaped, kill_group can no longer look that group up, yet its other members (children
        # left in the background) live on: stop them by the group id we know.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        guard("-", "g", proc.pid)
        result.leftovers_killed = self.box.sweep() + _kill_leftovers(self.token, self.pipe_link)
        if self.relay:
            self.relay.close()
        self.capture.join(timeout=5.0)
