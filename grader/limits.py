"""How much a learner's script may use: memory, processes, CPU, file size, and the size of its /tmp and HOME.

One place for the resource caps, next to grader/sandbox.py (which decides *who* a script runs as and what it
sees). The caps come from the strongest mechanism this machine allows, probed once per process:

``v2``       a cgroup v2 hierarchy with the memory/pids/cpu controllers delegated to us (memory.max, pids.max,
             cpu.max); GitHub's runners are pure v2.
``v1``       the legacy per-controller hierarchies (memory.limit_in_bytes, pids.max, cpu.cfs_quota_us).
``rlimits``  neither is writable (not root, or no controller to write): only per-process rlimits, so
             processes and file size are capped but memory and CPU are not.

Each script gets its own cgroup, made before it starts and removed after it ends. The process enters it through
a two-line ``sh`` wrapper in front of its command line (``Cgroup.wrap``) that writes its own pid into
``cgroup.procs`` and then execs the real command: the script is inside before any of its code runs, and unlike a
``preexec_fn`` this is safe in a threaded grader (Python documents preexec_fn as unsafe with threads). Whatever
the script leaves behind is found through the cgroup and killed by ``close()``.

In every mode ``prlimit`` sets RLIMIT_FSIZE (a file may not grow past ``fsize``) and, in the isolated modes,
RLIMIT_NPROC; under bubblewrap, /tmp, /dev/shm and HOME are tmpfs mounts of ``tmp`` bytes each.

What these caps do not bound: the script's copy of its submission folder is a bind mount of a host folder, so
only the size of each file is capped there (RLIMIT_FSIZE), not how many files it writes; without bubblewrap
(``--sandbox user``/``none``) the same holds for HOME and TMPDIR. Network use and the MLflow server's own work
on the script's behalf (artifacts it stores, rows it writes) are not the script's and are not counted.

The cgroup files are written by hand: no maintained Python library covers both v1 and v2 for a handful of
writes (cgroupspy is v1 only, systemd-run needs systemd as PID 1, which containers lack).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from grader.stack.base import guard

MiB = 1 << 20
GiB = 1 << 30
CONTROLLERS = ("memory", "pids", "cpu")
# The same cap as sandbox.MAX_PROCESSES (RLIMIT_NPROC), here per cgroup (tests/test_limits.py keeps them equal).
DEFAULT_PIDS = 512
CPU_PERIOD_US = 100_000
_PROBE_PREFIX = "handson-probe-"
_PREFIX = "handson-"
# The wrapper a script starts through: it moves itself into each cgroup, then becomes the real command.
_ENTER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class LimitsError(RuntimeError):
    """A cgroup could not be made or set up although this machine's probe said it could."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one script may use. 0 turns a cap off."""

    memory: int = GiB  # bytes, RAM (+ swap) of all its processes together, tmpfs pages included
    pids: int = DEFAULT_PIDS  # processes and threads at once
    cpu: float = 1.0  # cores
    fsize: int = 256 * MiB  # bytes, largest file it may write
    tmp: int = 256 * MiB  # bytes, each of /tmp, /dev/shm and HOME under bubblewrap


    def shown(self, verdict: str) -> str:
        """The cap a verdict names, as the learner's message shows it."""
        return str(self.pids) if verdict == "pids" else format_size(getattr(self, verdict))


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": MiB, "mb": MiB, "mib": MiB,
          "g": GiB, "gb": GiB, "gib": GiB}


def parse_size(text: str | int) -> int:
    """``"1G"``, ``"256MiB"``, ``"512m"``, ``"1048576"`` → bytes (binary units: a G is 2**30)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match and _UNITS.get(match.group(2).lower())
    if not unit:
        raise ValueError(f"{text!r} is not a size (write it like 1G, 256M or 1048576)")
    return int(float(match.group(1)) * unit)


def format_size(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


# -- what this machine supports ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Plan:
    kind: str  # "v2", "v1" or "rlimits"
    # (controller, folder the scripts' cgroups are made in); v2: one folder for all
    parents: tuple[tuple[str, str], ...] = ()
    detail: str = ""  # why not better (for the header), or where

    @property
    def controllers(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.parents)

    def parent(self, controller: str) -> Path:
        return Path(dict(self.parents)[controller])

    def describe(self, limits: Limits, tmpfs: bool) -> str:
        """One line for the pytest header: which caps hold, and how. ``tmpfs``: bubblewrap mounts /tmp."""
        from grader.i18n import cause, t

        caps = []
        if "memory" in self.controllers and limits.memory:
            caps.append(t("limits.memory_cap", size=format_size(limits.memory)))
        if "pids" in self.controllers and limits.pids:
            caps.append(t("limits.pids_cap", count=limits.pids))
        if "cpu" in self.controllers and limits.cpu:
            caps.append(t("limits.cpu_cap", cores=f"{limits.cpu:g}"))
        if self.kind == "rlimits":
            parts = [t("limits.rlimits_only", why=cause(self.detail))]
        else:
            parts = [t("limits.via_cgroup", caps=t("limits.sep_caps").join(caps), version=self.kind)]
        if limits.fsize:
            parts.append(t("limits.fsize_cap", size=format_size(limits.fsize)))
        if tmpfs and limits.tmp and bwrap_has_size():
            parts.append(t("limits.tmp_cap", size=format_size(limits.tmp)))
        else:
            parts.append(t("limits.tmp_unbounded"))
        return t("limits.sep_parts").join(parts)


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) of this process's cgroup mounts."""
    found = []
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            found.append((fields[1].replace("\\040", " "), fields[2], set(fields[3].split(","))))
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller → this process's cgroup path in its hierarchy; ``""`` → its path in the v2 hierarchy."""
    own = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return own
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            own[name] = path
    return own


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _under(mount: str, path: str) -> Path:
    return Path(mount) / path.lstrip("/")


def _v2_parents() -> tuple[dict[str, Path], str]:
    """The first folder of the v2 hierarchy (our own cgroup, then the root) whose children get our controllers.

    A cgroup holding processes cannot hand controllers to children (v2's no-internal-processes rule), so our
    own cgroup serves only when it was delegated to us empty; as root the hierarchy's root always serves."""
    mount = next((m for m, fs, _ in _mounts() if fs == "cgroup2"), None)
    if mount is None:
        return {}, "no cgroup2 mount"
    if not _read(Path(mount) / "cgroup.controllers").split():
        return {}, f"{mount} has no controllers (they are bound to v1)"
    own = _own_cgroups().get("", "/")
    why = []
    for folder in dict.fromkeys([_under(mount, own), Path(mount)]):
        available = set(_read(folder / "cgroup.controllers").split())
        for name in CONTROLLERS:
            if name in available and name not in _read(folder / "cgroup.subtree_control").split():
                try:
                    _write(folder / "cgroup.subtree_control", f"+{name}")
                except OSError as e:
                    why.append(f"{folder}: +{name}: {e.strerror}")
        enabled = set(_read(folder / "cgroup.subtree_control").split())
        got = {name: folder for name in CONTROLLERS if name in enabled}
        if {"memory", "pids"} & set(got):
            return got, ""
    return {}, "; ".join(why) or "memory and pids controllers are not enabled"


def _v1_parents() -> tuple[dict[str, Path], str]:
    own = _own_cgroups()
    got = {}
    for name in CONTROLLERS:
        mount = next((m for m, fs, opts in _mounts() if fs == "cgroup" and name in opts), None)
        if mount is not None and name in own:
            got[name] = _under(mount, own[name])
    return got, "" if got else "no v1 memory, pids or cpu hierarchy"


@functools.lru_cache(maxsize=None)
def plan() -> Plan:
    """What this machine lets the grader cap (probed once per process): v2, v1, or rlimits alone."""
    why = []
    for kind, find in (("v2", _v2_parents), ("v1", _v1_parents)):
        parents, problem = find()
        if problem:
            why.append(f"{kind}: {problem}")
            continue
        usable, problem = _probe(Plan(kind, tuple((c, str(p)) for c, p in parents.items())))
        if usable is not None:
            return usable
        why.append(f"{kind}: {problem}")
    # Not root: the reason a learner on a laptop needs, not each hierarchy's "Permission denied".
    return Plan("rlimits", (), "the grader is not root" if os.geteuid() != 0 else "; ".join(why))


def _probe(p: Plan) -> tuple[Plan | None, str]:
    """``p`` cut to the controllers whose cgroup can be made and capped and a process can enter (``true``
    is started inside them); or None and why not."""
    usable = []
    problems = []
    for name in p.controllers:
        folder = p.parent(name) / f"{_PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        try:
            folder.mkdir()
        except OSError as e:
            problems.append(f"{name}: {folder.parent}: {e.strerror}")
            continue
        try:
            _set_limit(p.kind, name, folder, Limits())
            usable.append(name)
        except OSError as e:
            problems.append(f"{name}: {e.filename}: {e.strerror}")
        finally:
            _rmdir(folder)
    if not {"memory", "pids"} & set(usable):
        return None, "; ".join(problems) or "no controller"
    trial = Plan(p.kind, tuple(x for x in p.parents if x[0] in usable))
    try:
        group = Cgroup.create(f"probe-{os.getpid()}-{secrets.token_hex(3)}", Limits(), trial)
    except LimitsError as e:
        return None, str(e)
    try:
        done = subprocess.run(group.wrap(["true"]), capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            return None, f"a process cannot enter its cgroup: {done.stderr.strip()[-200:]}"
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    finally:
        group.close()
    return trial, ""


def _set_limit(kind: str, controller: str, folder: Path, limits: Limits) -> None:
    if controller == "memory" and limits.memory:
        if kind == "v2":
            _write(folder / "memory.max", str(limits.memory))
            _try_write(folder / "memory.swap.max", "0")
        else:
            _write(folder / "memory.limit_in_bytes", str(limits.memory))
            # RAM + swap together: with swap the script would otherwise go on past the cap, slowly.
            _try_write(folder / "memory.memsw.limit_in_bytes", str(limits.memory))
    elif controller == "pids" and limits.pids:
        _write(folder / "pids.max", str(limits.pids))
    elif controller == "cpu" and limits.cpu:
        quota = max(1000, int(limits.cpu * CPU_PERIOD_US))
        if kind == "v2":
            _write(folder / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        else:
            _write(folder / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(folder / "cpu.cfs_quota_us", str(quota))


def _try_write(path: Path, value: str) -> None:
    try:
        _write(path, value)
    except OSError:  # absent (no swap accounting) or refused: the cap above still holds
        pass


def _rmdir(folder: Path, timeout: float = 5.0) -> None:
    """rmdir a cgroup; EBUSY lasts while its last processes are being torn down."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise LimitsError(f"could not remove the cgroup {folder}: {e.strerror}") from e
            time.sleep(0.02)


# -- one script's cgroup -----------------------------------------------------------------------------
class Cgroup:
    """One script's cgroup (a folder per controller on v1, one folder on v2); without cgroups, an empty one
    whose ``wrap`` changes nothing and whose ``verdict`` still recognises the rlimits."""

    def __init__(self, p: Plan, folders: dict[str, Path], limits: Limits):
        self.plan = p
        self.folders = folders
        self.limits = limits

    @classmethod
    def create(cls, name: str, limits: Limits, p: Plan | None = None) -> "Cgroup":
        """Make the cgroup ``handson-<name>`` and set its caps; a failure removes what was made."""
        p = p or plan()
        group = cls(p, {}, limits)
        try:
            for controller in p.controllers:
                folder = p.parent(controller) / f"{_PREFIX}{name}"
                if folder not in group.folders.values():
                    folder.mkdir()
                    # A grader killed outright leaves no cgroup behind: its guard removes it (empty by then).
                    guard("+", "d", folder)
                group.folders[controller] = folder
                _set_limit(p.kind, controller, folder, limits)
        except OSError as e:
            group.close()
            raise LimitsError(f"could not set up the cgroup {e.filename or name}: {e.strerror}") from e
        return group

    def __enter__(self) -> "Cgroup":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _dirs(self) -> list[Path]:
        return list(dict.fromkeys(self.folders.values()))

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` started inside this cgroup (it must be the outermost wrapper: it writes as root)."""
        if not self.folders:
            return command
        return ["/bin/sh", "-c", _ENTER, "handson-cgroup", *(str(d / "cgroup.procs") for d in self._dirs()),
                "--", *command]

    def pids(self) -> set[int]:
        found = set()
        for folder in self._dirs():
            found.update(int(x) for x in _read(folder / "cgroup.procs").split())
        return found

    def peak_pids(self) -> int | None:
        """The most processes it held at once, where the kernel keeps that count (pids.peak)."""
        folder = self.folders.get("pids")
        text = _read(folder / "pids.peak").strip() if folder else ""
        return int(text) if text.isdigit() else None

    def verdict(self, returncode: int | None = None, output: str = "") -> str | None:
        """Which cap stopped the script: ``"memory"``, ``"pids"``, ``"fsize"``, or None.

        Memory and processes are read from the cgroup's own counters (an OOM kill, a refused fork); the file
        size from how it ended: killed by SIGXFSZ (128 + 25 through bubblewrap), or Python's EFBIG error
        (Python ignores SIGXFSZ, so its write fails with "[Errno 27] File too large" instead)."""
        if self.oom_kills() > 0:
            return "memory"
        if self.refused_forks() > 0:
            return "pids"
        if self.limits.fsize and (returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ)
                                  or f"[Errno {errno.EFBIG}]" in output):
            return "fsize"
        return None

    def oom_kills(self) -> int:
        folder = self.folders.get("memory")
        if folder is None:
            return 0
        name = "memory.events" if self.plan.kind == "v2" else "memory.oom_control"
        counts = _counters(_read(folder / name))
        if "oom_kill" in counts:
            return counts["oom_kill"] + counts.get("oom_group_kill", 0)
        # v1 before Linux 4.13 has no oom_kill count: the cap was reached and the script died of SIGKILL.
        return int(_read(folder / "memory.failcnt").strip() or 0) if self.plan.kind == "v1" else 0

    def refused_forks(self) -> int:
        folder = self.folders.get("pids")
        return _counters(_read(folder / "pids.events")).get("max", 0) if folder else 0

    def kill(self, timeout: float = 5.0) -> int:
        """SIGKILL every process in the cgroup until none is left; how many were killed."""
        if not self.folders:
            return 0
        if self.plan.kind == "v2":
            kill_file = self._dirs()[0] / "cgroup.kill"
            if kill_file.exists():
                _try_write(kill_file, "1")
        killed = set()
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            if not left:
                return len(killed)
            if time.monotonic() > deadline:
                raise LimitsError(f"processes {sorted(left)[:10]} in {self._dirs()[0]} did not die")
            for pid in left:
                if self._kill_member(pid):
                    killed.add(pid)
            time.sleep(0.01)

    def _kill_member(self, pid: int) -> bool:
        """Kill ``pid`` through a pidfd, once /proc confirms it is still ours (a pid can be reused)."""
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return False
        try:
            names = {d.name for d in self._dirs()}
            paths = [line.split(":", 2)[-1] for line in _read(Path(f"/proc/{pid}/cgroup")).splitlines()]
            if not any(names & set(path.split("/")) for path in paths):
                return False
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def close(self) -> int:
        """Kill what is left in it and remove it; how many processes were killed."""
        try:
            killed = self.kill()
        finally:
            errors = []
            for folder in reversed(self._dirs()):
                try:
                    _rmdir(folder)
                    guard("-", "d", folder)
                except LimitsError as e:
                    errors.append(e)
            self.folders = {}
            if errors:
                raise errors[0]
        return killed


def _counters(text: str) -> dict[str, int]:
    counts = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if value.strip().isdigit():
            counts[name] = int(value)
    return counts


# -- rlimits and bubblewrap --------------------------------------------------------------------------
def prlimit(limits: Limits, nproc: bool = True) -> list[str]:
    """The ``prlimit … --`` prefix for a script's command line (empty without util-linux's prlimit).

    ``nproc`` only for a script with a uid of its own: RLIMIT_NPROC counts every process of the uid."""
    if not shutil.which("prlimit"):
        return []
    args = ["prlimit", "--core=0"]
    if nproc and limits.pids:
        args.append(f"--nproc={limits.pids}")
    if limits.fsize:
        args.append(f"--fsize={limits.fsize}")
    return args + ["--"]


@functools.lru_cache(maxsize=None)
def bwrap_has_size() -> bool:
    """bubblewrap ≥ 0.5 sizes a tmpfs with ``--size`` (Debian 12 has 0.8)."""
    if not shutil.which("bwrap"):
        return False
    try:
        done = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in done.stdout + done.stderr


def bwrap_tmpfs(path: str | Path, limits: Limits, perms: str = "01777") -> list[str]:
    """bubblewrap's arguments for a tmpfs at ``path`` holding at most ``limits.tmp`` bytes.

    The sticky, world-writable mode is what the script's own uid needs: bubblewrap runs as root and makes the
    tmpfs root's, and the mount exists only inside this script's namespace. Without ``--size`` support the
    tmpfs is unbounded (Plan.describe says so)."""
    size = ["--size", str(limits.tmp)] if limits.tmp and bwrap_has_size() else []
    return ["--perms", perms, *size, "--tmpfs", str(path)]


def stale(p: Plan | None = None) -> list[Path]:
    """Cgroups a crashed grader left behind (``handson-*`` in our parents)."""
    p = p or plan()
    found = []
    for folder in dict.fromkeys(p.parent(c) for c in p.controllers):
        found.extend(sorted(folder.glob(f"{_PREFIX}*")))
    return found
