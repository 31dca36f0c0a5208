"""How a learner's script is started: which user, which namespaces, which files it may write.

The one place that knows the operating system's isolation mechanisms (the runner asks it how to start a
script; checks and reports never know it exists). Three modes, the strongest this machine allows:

``bwrap``  (root, bubblewrap works) — the script runs as a fresh unprivileged uid, inside bubblewrap's
           PID, IPC and UTS namespaces with a read-only view of the machine: it sees only its own
           processes, writes only its copy of the submission, its private HOME and a private /tmp, and
           everything it started dies with the namespace when it ends.
``user``   (root, no bubblewrap) — the fresh unprivileged uid alone: it cannot read other processes'
           environment, signal them, or write files it does not own; leftovers are found by their uid.
``none``   (not root: a learner's own laptop) — the script runs as you. What that cannot prevent is in the
           README's threat model; the marker in its environment still finds what it leaves running.

Every mode gives the script its own writable copy of its submission folder and a private HOME, removed
afterwards. bubblewrap is Debian's ``bubblewrap`` package; ``setpriv`` and ``prlimit`` come with
util-linux. Hand-written glue only: no library starts a process under these tools for us.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import secrets
import shutil
import site
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from grader import limits as _limits
from grader.config import SANDBOX_MODES as MODES

# Fresh uids come from a range no distribution hands out (Debian's subordinate ranges start at 100000
# and are 65536 wide per user; systemd's dynamic users stay below 65535).
UID_BASE, UID_SPAN = 1_900_000_000, 100_000_000
# A network namespace per script with only MLflow's port relayed in (grader/netrelay.py), under bubblewrap.
# HANDSON_SANDBOX_NETWORK=0 turns it off (scripts then share the machine's loopback, as in `user` mode).
NETWORK_NAMESPACE = os.environ.get("HANDSON_SANDBOX_NETWORK", "1") != "0"
# Per-script process cap (RLIMIT_NPROC counts processes of the script's own, unique uid).
MAX_PROCESSES = 512
_COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "node_modules", ".ipynb_checkpoints")


@dataclasses.dataclass(frozen=True)
class Plan:
    mode: str
    reason: str  # a message key (sandbox.*), shown in the pytest header
    detail: str = ""

    def describe(self) -> str:
        from grader.i18n import cause, t
        from grader.messages import MESSAGES

        if not self.detail and f"{self.reason}_bare" in MESSAGES:  # no "…: " left hanging
            return t(f"{self.reason}_bare")
        return t(self.reason, detail=cause(self.detail))

    @property
    def isolated(self) -> bool:
        return self.mode in ("bwrap", "user")


def _traversable_by_others(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return bool(st.st_mode & stat.S_IXOTH)


def _interpreter_paths() -> list[Path]:
    """What the script's Python needs to reach: its executable and prefixes (a virtualenv and its base)."""
    paths = {Path(sys.executable).resolve().parent, Path(sys.prefix), Path(sys.base_prefix)}
    try:
        paths.update(Path(p) for p in site.getsitepackages())
    except AttributeError:  # some embedded interpreters lack it
        pass
    return sorted(p for p in paths if p.exists())


def _hidden_ancestor(path: Path) -> Path | None:
    """The outermost ancestor of ``path`` another user cannot enter (``/root`` is often 0700)."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not _traversable_by_others(parent):
            return parent
    return None


def _run_quiet(argv: list[str], timeout: float = 20.0, **kwargs) -> tuple[bool, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return done.returncode == 0, (done.stderr or done.stdout).strip()[-300:]


@functools.lru_cache(maxsize=None)
def plan(wanted: str = "auto") -> Plan:
    """The strongest mode this machine allows (probed once per process), or the one asked for."""
    if wanted not in MODES:
        raise ValueError(f"--sandbox {wanted!r} is not one of {', '.join(MODES)}")
    if wanted == "none":
        return Plan("none", "sandbox.asked_none")
    if os.geteuid() != 0:
        if wanted != "auto":
            raise ValueError(f"--sandbox {wanted} needs root (the grader runs as uid {os.geteuid()})")
        return Plan("none", "sandbox.not_root")
    problems = []
    if wanted in ("auto", "bwrap"):
        ok, why = _probe(Plan("bwrap", "sandbox.bwrap"))
        if ok:
            return Plan("bwrap", "sandbox.bwrap")
        problems.append(f"bubblewrap: {why}")
        if wanted == "bwrap":
            raise ValueError("--sandbox bwrap does not work here: " + why)
    ok, why = _probe(Plan("user", "sandbox.user"))
    if ok:
        return Plan("user", "sandbox.user", "; ".join(problems))
    if wanted == "user":
        raise ValueError("--sandbox user does not work here: " + why)
    problems.append(f"setpriv: {why}")
    return Plan("none", "sandbox.unavailable", "; ".join(problems))


def _probe(p: Plan) -> tuple[bool, str]:
    if p.mode == "bwrap" and not shutil.which("bwrap"):
        return False, "not installed (apt-get install bubblewrap)"
    if not shutil.which("setpriv"):
        return False, "setpriv not found (util-linux)"
    base = Path(tempfile.mkdtemp(prefix="handson-sandbox-probe-"))
    try:
        base.chmod(0o711)
        box = Box(p, base, base)
        try:
            box.prepare(None)
            # The script's user must reach the interpreter *and* its packages (a pyenv under a 0700 /root
            # runs, yet imports nothing: only bubblewrap can show it its site-packages).
            code = ("import os, sys, importlib.util; sys.exit(0 if os.getuid() != 0 and "
                    "importlib.util.find_spec('mlflow') else 3)")
            ok, why = _run_quiet(box.argv([sys.executable, "-c", code]), cwd=box.cwd)
            return ok, "" if ok else (why or "the interpreter's packages are out of reach of an unprivileged user")
        finally:
            box.cleanup()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def new_base(data_dir: Path | None = None) -> Path:
    """A grading run's sandbox folder: root-owned, enterable (not listable) by the scripts' uids, with a
    world-readable copy of ``data_dir`` in ``data/`` (the original may sit where no other user can reach)."""
    base = Path(tempfile.mkdtemp(prefix="handson-sandbox-"))
    base.chmod(0o711)
    # The relay a script's network namespace talks through (grader/netrelay.py), readable by every uid.
    (base / "bin").mkdir(mode=0o755)
    # So is the warm interpreter's launcher (grader/warm.py): the grader's own folder may be unreadable to them.
    for name in ("netrelay.py", "warm.py"):
        shutil.copyfile(Path(__file__).with_name(name), base / "bin" / name)
        (base / "bin" / name).chmod(0o644)
    if data_dir is not None and data_dir.is_dir():
        shutil.copytree(data_dir, base / "data", ignore=_COPY_IGNORE)
        for parent, dirs, files in os.walk(base / "data"):
            os.chmod(parent, 0o755)
            for name in files:
                os.chmod(os.path.join(parent, name), 0o644)
    return base


def _bwrap_view(readable: list[Path], writable: list[Path], masked: tuple[Path, ...] = (),
               limits: _limits.Limits | None = None) -> list[str]:
    """bubblewrap options for a read-only view of the machine with a private /tmp and /dev/shm (sized by
    ``limits``), where the folders in ``masked`` (and any ancestor of a needed path that other users cannot
    enter) are empty, ``readable`` paths are visible read-only and ``writable`` ones read-write."""
    hide = {Path("/tmp"), *masked}
    for path in readable:
        hidden = _hidden_ancestor(path)
        if hidden is not None:
            hide.add(hidden)
    def tmpfs(path) -> list[str]:
        return _limits.bwrap_tmpfs(path, limits) if limits else ["--perms", "01777", "--tmpfs", str(path)]

    argv = ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", *tmpfs("/dev/shm")]
    for path in sorted(hide, key=lambda p: len(p.parts)):
        argv += tmpfs(path) if path == Path("/tmp") else ["--tmpfs", str(path)]
    made: set[Path] = set()

    def mount(option: str, path: Path) -> list[str]:
        # bubblewrap makes missing parents of a mount point 0700; make them enterable instead.
        dirs = []
        for parent in reversed(path.parents):
            if parent not in made and any(m in parent.parents for m in hide):
                made.add(parent)
                dirs += ["--perms", "0755", "--dir", str(parent)]
        return dirs + [option, str(path), str(path)]

    for path in readable:
        if any(m == path or m in path.parents for m in hide):
            argv += mount("--ro-bind", path)
    for path in writable:
        argv += mount("--bind", path)
    return argv


def _drop_to(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


# The services a grader starts (database, object store, MLflow) run as uids of their own, from a range
# below the scripts' one: not root, not a script's uid, a fresh one per stack and service.
SERVICE_UID_BASE, SERVICE_UID_SPAN = 1_800_000_000, 100_000_000
CHECKOUT = Path(__file__).resolve().parents[1]


def service_uid() -> int:
    """The first of three consecutive fresh uids for one stack's services (0 when they run as the grader)."""
    if not service_plan().isolated:
        return os.getuid()
    return SERVICE_UID_BASE + 3 * secrets.randbelow(SERVICE_UID_SPAN // 3)


@functools.lru_cache(maxsize=None)
def service_plan() -> Plan:
    """How the grader's own services are isolated: like scripts when the grader is root, else not at all."""
    try:
        return plan("auto")
    except ValueError:
        return Plan("none", "sandbox.unavailable")


def service_argv(uid: int, command: list[str], writable: list[Path], readable: list[Path] = ()) -> list[str]:
    """``command`` as service user ``uid``: under bubblewrap it sees the machine read-only, without /tmp,
    /dev/shm and the grader's checkout (apart from the interpreter), and writes only ``writable``
    (chowned to it here). Host network and PID namespace: the grader watches its port and its pid."""
    p = service_plan()
    if not p.isolated or uid == os.getuid():
        return command
    for path in writable:
        _chown_tree(path, uid)
    if p.mode == "user":
        return _drop_to(uid) + command
    view = _bwrap_view(_interpreter_paths() + [Path(c).parent for c in command[:1] if os.path.isabs(c)]
                       + list(readable), list(writable), masked=(CHECKOUT,))
    # The grader's TMPDIR (maybe under the /tmp it no longer sees) would not exist for it: its own /tmp.
    return (["bwrap", "--unshare-ipc", "--unshare-uts", "--die-with-parent", *view, "--setenv", "TMPDIR", "/tmp",
             "--"] + _drop_to(uid) + command)


class Box:
    """One script's sandbox: a fresh uid, its copy of the submission, a private HOME; gone after cleanup()."""

    def __init__(self, p: Plan, base: Path, data_dir: Path, relay_port: int | None = None,
                 lim: _limits.Limits | None = None, warm: bool = False):
        self.plan = p
        # The warm launcher (grader/warm.py) this box runs the script through, when it is warm.
        self.warm_launcher = base / "bin" / "warm.py" if warm else None
        self.limits = lim or _limits.Limits()
        self.root = Path(tempfile.mkdtemp(prefix="s-", dir=base))
        self.root.chmod(0o711)
        self.cwd = self.root / "work"
        self.home = self.root / "home"
        self.data_dir = data_dir
        self.uid = UID_BASE + secrets.randbelow(UID_SPAN) if p.isolated else os.getuid()
        # bubblewrap: a network namespace of its own, with MLflow's port relayed in (grader/netrelay.py)
        self.relay_port = relay_port if p.mode == "bwrap" and (base / "bin" / "netrelay.py").is_file() else None
        # A Unix socket path holds at most 107 bytes, and TMPDIR may be deep (pytest's, a CI runner's): the
        # relay's socket gets a short folder of its own directly in /tmp (mounted into the box at that path).
        self.relay_socket = None
        if self.relay_port:
            self.relay_socket = Path(tempfile.mkdtemp(prefix="handson-net-", dir="/tmp")) / "mlflow.sock"
            self.relay_socket.parent.chmod(0o755)
            from grader.stack.base import guard

            guard("+", "d", self.relay_socket.parent)

    def prepare(self, submission: Path | None) -> None:
        if submission is not None:
            shutil.copytree(submission, self.cwd, ignore=_COPY_IGNORE, symlinks=True)
        else:
            self.cwd.mkdir()
        self.home.mkdir()
        (self.home / "tmp").mkdir()
        if self.plan.isolated:
            for path in (self.cwd, self.home):
                _chown_tree(path, self.uid)
                path.chmod(0o700)  # no other uid (another script, a service) reads it

    def env(self, base: dict) -> dict:
        env = dict(base, HOME=str(self.home))
        # bubblewrap gives a private /tmp; elsewhere the private temp folder lives in the private HOME.
        env["TMPDIR"] = "/tmp" if self.plan.mode == "bwrap" else str(self.home / "tmp")
        return env

    def argv(self, command: list[str]) -> list[str]:
        if not self.plan.isolated:
            return _limits.prlimit(self.limits, nproc=False) + command
        drop = _drop_to(self.uid)
        limit = _limits.prlimit(self.limits)
        if self.plan.mode == "user":
            return limit + drop + command
        relay = []
        if self.relay_port:
            # Root inside the box only to bind and fork; the relay then runs as uid + 1, the script as uid.
            relay = [sys.executable, "-I", str(self.root.parent / "bin" / "netrelay.py"), str(self.relay_socket),
                     str(self.relay_port), str(self.uid + 1), "--"]
        return self._bwrap() + ["--"] + relay + limit + drop + command

    def _bwrap(self) -> list[str]:
        argv = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent", "--new-session", "--hostname", "handson"]
        readable = _interpreter_paths() + [self.data_dir] + ([self.warm_launcher] if self.warm_launcher else [])
        if self.relay_port:
            argv.append("--unshare-net")
            readable.append(self.root.parent / "bin" / "netrelay.py")
        argv += _bwrap_view(readable, [self.cwd, self.home] + ([self.relay_socket.parent] if self.relay_socket else []),
                            limits=self.limits)
        argv += _limits.bwrap_tmpfs(self.home, self.limits)  # HOME: a sized tmpfs over its (empty) folder
        argv += ["--chdir", str(self.cwd)]
        return argv

    def sweep(self) -> int:
        """Stop every process still running as this script's uid or its relay's (isolated modes only)."""
        if not self.plan.isolated:
            return 0
        killed = 0
        for _ in range(20):
            found = []
            for proc in psutil.process_iter(["uids"]):
                try:
                    if proc.info["uids"] and proc.info["uids"].real in (self.uid, self.uid + 1):
                        proc.kill()
                        found.append(proc)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            if not found:
                break
            killed += len(found)
            psutil.wait_procs(found, timeout=1.0)
            time.sleep(0.01)
        return killed

    def cleanup(self) -> None:
        """Stop what is left of the script and remove its copy, HOME and relay socket."""
        self.sweep()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.relay_socket:
            from grader.stack.base import guard

            shutil.rmtree(self.relay_socket.parent, ignore_errors=True)
            guard("-", "d", self.relay_socket.parent)


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid, follow_symlinks=False)
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(parent, name), uid, uid, follow_symlinks=False)
