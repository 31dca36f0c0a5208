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

MODES = ("auto", "bwrap", "user", "none")
# Fresh uids come from a range no distribution hands out (Debian's subordinate ranges start at 100000
# and are 65536 wide per user; systemd's dynamic users stay below 65535).
UID_BASE, UID_SPAN = 1_900_000_000, 100_000_000
# Per-script process cap (RLIMIT_NPROC counts processes of the script's own, unique uid).
MAX_PROCESSES = 512
_COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "node_modules", ".ipynb_checkpoints")


@dataclasses.dataclass(frozen=True)
class Plan:
    mode: str
    reason: str  # a message key (sandbox.*), shown in the pytest header
    detail: str = ""

    def describe(self) -> str:
        from grader.i18n import t

        return t(self.reason, detail=self.detail)

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
    if data_dir is not None and data_dir.is_dir():
        shutil.copytree(data_dir, base / "data", ignore=_COPY_IGNORE)
        for parent, dirs, files in os.walk(base / "data"):
            os.chmod(parent, 0o755)
            for name in files:
                os.chmod(os.path.join(parent, name), 0o644)
    return base


class Box:
    """One script's sandbox: a fresh uid, its copy of the submission, a private HOME; gone after cleanup()."""

    def __init__(self, p: Plan, base: Path, data_dir: Path, lim: _limits.Limits | None = None):
        self.plan = p
        self.limits = lim or _limits.Limits()
        self.root = Path(tempfile.mkdtemp(prefix="s-", dir=base))
        self.root.chmod(0o711)
        self.cwd = self.root / "work"
        self.home = self.root / "home"
        self.data_dir = data_dir
        self.uid = UID_BASE + secrets.randbelow(UID_SPAN) if p.isolated else os.getuid()

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

    def env(self, base: dict) -> dict:
        env = dict(base, HOME=str(self.home))
        # bubblewrap gives a private /tmp; elsewhere the private temp folder lives in the private HOME.
        env["TMPDIR"] = "/tmp" if self.plan.mode == "bwrap" else str(self.home / "tmp")
        return env

    def argv(self, command: list[str]) -> list[str]:
        if not self.plan.isolated:
            return _limits.prlimit(self.limits, nproc=False) + command
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        limit = _limits.prlimit(self.limits)
        if self.plan.mode == "user":
            return limit + drop + command
        return self._bwrap() + ["--"] + limit + drop + command

    def _bwrap(self) -> list[str]:
        masked = {Path("/tmp")}
        needed = _interpreter_paths() + [self.data_dir]
        for path in needed:
            hidden = _hidden_ancestor(path)
            if hidden is not None:
                masked.add(hidden)
        argv = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent", "--new-session", "--hostname", "handson",
                "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                *_limits.bwrap_tmpfs("/dev/shm", self.limits)]
        for path in sorted(masked, key=lambda p: len(p.parts)):
            argv += _limits.bwrap_tmpfs(path, self.limits) if path == Path("/tmp") else ["--tmpfs", str(path)]
        made: set[Path] = set()

        def mount(option: str, path: Path) -> list[str]:
            # bubblewrap makes missing parents of a mount point 0700; make them enterable instead.
            dirs = []
            for parent in reversed(path.parents):
                if parent not in made and any(m in parent.parents for m in masked):
                    made.add(parent)
                    dirs += ["--perms", "0755", "--dir", str(parent)]
            return dirs + [option, str(path), str(path)]

        for path in needed:
            if any(m == path or m in path.parents for m in masked):
                argv += mount("--ro-bind", path)
        for path in (self.cwd, self.home):
            argv += mount("--bind", path)
        argv += _limits.bwrap_tmpfs(self.home, self.limits)  # HOME: a sized tmpfs over its (empty) folder
        argv += ["--chdir", str(self.cwd)]
        return argv

    def sweep(self) -> int:
        """Stop every process still running as this script's uid (isolated modes only)."""
        if not self.plan.isolated:
            return 0
        killed = 0
        for _ in range(20):
            found = []
            for proc in psutil.process_iter(["uids"]):
                try:
                    if proc.info["uids"] and proc.info["uids"].real == self.uid:
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

    def cleanup(self, keep_files: bool = False) -> None:
        """Stop what is left of the script; remove its files unless ``keep_files`` (then they go with the
        grading run's sandbox folder: a run's artifact_location may point into them)."""
        self.sweep()
        if not keep_files:
            shutil.rmtree(self.root, ignore_errors=True)


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid, follow_symlinks=False)
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(parent, name), uid, uid, follow_symlinks=False)
