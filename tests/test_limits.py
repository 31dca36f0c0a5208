"""Per-script caps (grader/limits.py), exercised for real: a script over its memory is OOM-killed, a fork loop
stops at its process cap, a too-large write fails, a full /tmp says ENOSPC, and no cgroup outlives its script.

The cgroup tests need root (CI runs as root); elsewhere they are skipped with the reason, under CI=true they fail.
Nothing here waits on a clock: every assertion reads a counter or an exit status.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from conftest import IN_CI
from grader import limits, sandbox
from grader.limits import GiB, MiB, Cgroup, Limits

# A CPU cap is measured and cgroups counted: nothing else of the run beside it (tests/conftest.py).
pytestmark = pytest.mark.alone

UNPRIVILEGED = sandbox.UID_BASE + 4242


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def require_controller(name: str) -> limits.Plan:
    require(os.geteuid() == 0, "cgroup limits need root")
    p = limits.plan()
    require(name in p.controllers, f"no writable cgroup {name} controller here ({p.kind}: {p.detail})")
    return p


def run(group: Cgroup, code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(group.wrap([sys.executable, "-c", textwrap.dedent(code)]), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, **kwargs)


def gone(pid: int) -> bool:
    """Dead: no such process, or a zombie (an orphan's reaper, init in a container, may never collect it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def leftover_dirs(group_name: str) -> list[Path]:
    p = limits.plan()
    return [p.parent(c) / f"handson-{group_name}" for c in p.controllers
            if (p.parent(c) / f"handson-{group_name}").exists()]


# -- sizes -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, size", [("1G", GiB), ("1GiB", GiB), ("256M", 256 * MiB), ("256mb", 256 * MiB),
                                        ("1.5g", 3 * GiB // 2), ("1048576", MiB), ("64k", 65536), (4096, 4096)])
def test_sizes_are_read_in_binary_units(text, size):
    assert limits.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "1T", "-1G", "1 G B"])
def test_a_size_that_is_not_one_is_refused_with_the_form_to_use(text):
    with pytest.raises(ValueError, match="like 1G"):
        limits.parse_size(text)


def test_sizes_are_shown_in_binary_units():
    assert [limits.format_size(n) for n in (GiB, 256 * MiB, 3 * GiB // 2, 512)] == \
        ["1 GiB", "256 MiB", "1.5 GiB", "512 B"]


def test_the_process_cap_is_the_sandbox_one():
    assert Limits().pids == sandbox.MAX_PROCESSES


def test_the_header_line_names_each_cap_and_how():
    line = limits.Plan("v1", (("memory", "/x"), ("pids", "/y"))).describe(Limits(), tmpfs=False)
    assert "1 GiB" in line and "512" in line and "cgroup v1" in line and "256 MiB" in line
    assert "CPU" not in line  # no cpu controller, no CPU cap claimed
    fallback = limits.Plan("rlimits", (), "the grader is not root").describe(Limits(), tmpfs=False)
    assert "no memory or CPU cap" in fallback and "the grader is not root" in fallback


# -- rlimits (any user) ------------------------------------------------------------------------------
def test_prlimit_caps_file_size_and_only_an_own_uid_gets_a_process_cap():
    require(bool(limits.prlimit(Limits())), "prlimit (util-linux) is not installed")
    assert "--fsize=1048576" in limits.prlimit(Limits(fsize=MiB))
    assert "--nproc=512" in limits.prlimit(Limits())
    assert not any(a.startswith("--nproc") for a in limits.prlimit(Limits(), nproc=False))


def test_a_write_past_the_file_size_cap_fails_and_is_reported(tmp_path):
    require(bool(limits.prlimit(Limits())), "prlimit (util-linux) is not installed")
    cap = Limits(fsize=MiB)
    plain = Cgroup(limits.Plan("rlimits"), {}, cap)
    # Python ignores SIGXFSZ: its write fails with EFBIG and the script dies of the exception.
    code = f"open({str(tmp_path / 'big')!r}, 'wb').write(b'x' * (10 << 20))"
    done = subprocess.run(limits.prlimit(cap, nproc=False) + [sys.executable, "-c", code],
                          capture_output=True, text=True)
    assert done.returncode == 1 and f"[Errno {errno.EFBIG}] File too large" in done.stderr, done.stderr
    assert (tmp_path / "big").stat().st_size == MiB
    assert plain.verdict(done.returncode, done.stderr) == "fsize"
    # A program that keeps SIGXFSZ's default action is killed by it.
    done = subprocess.run(limits.prlimit(cap, nproc=False) + [
        "dd", "if=/dev/zero", f"of={tmp_path / 'dd'}", "bs=1M", "count=10"], capture_output=True, text=True)
    assert done.returncode == -signal.SIGXFSZ, done
    assert plain.verdict(done.returncode, "") == "fsize"
    assert plain.verdict(0, "all fine") is None


# -- cgroups (root) -------------------------------------------------------------------------------------
def test_this_machine_caps_memory_and_processes_when_root():
    require(os.geteuid() == 0, "cgroup limits need root")
    p = limits.plan()
    assert p.kind in ("v1", "v2"), f"as root, no cgroup controller was usable: {p.detail}"
    assert {"memory", "pids"} <= set(p.controllers), p


def test_a_script_over_its_memory_cap_is_killed_and_the_verdict_says_memory():
    require_controller("memory")
    with Cgroup.create("test-memory", Limits(memory=256 * MiB)) as group:
        # 1.5 GiB, every page written (bytes * n fills it), in 64 MiB pieces.
        done = run(group, "pieces = [b'x' * (64 << 20) for _ in range(24)]; print('survived')")
        assert done.returncode == -signal.SIGKILL and "survived" not in done.stdout, done
        assert group.verdict(done.returncode, done.stderr) == "memory"
    assert not leftover_dirs("test-memory")


def test_a_script_within_its_caps_gets_no_verdict():
    require_controller("memory")
    with Cgroup.create("test-fine", Limits(memory=256 * MiB, pids=20)) as group:
        done = run(group, "pieces = [b'x' * (16 << 20) for _ in range(4)]; print('fine')")
        assert done.returncode == 0 and done.stdout.strip() == "fine", done
        assert group.verdict(done.returncode, done.stdout) is None


FORK_LOOP = """
    import os, sys
    # Forks until the kernel refuses; the children hold their slot until the pipe closes. Bounded at 300 in
    # case no cap holds, so a broken cap fails the test instead of the machine.
    r, w = os.pipe()
    children = []
    refused = None
    while len(children) < 300:
        try:
            pid = os.fork()
        except OSError as e:
            refused = e.errno
            break
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        children.append(pid)
    os.close(w)
    for pid in children:
        os.waitpid(pid, 0)
    print(len(children), refused)
    sys.exit(3 if refused else 0)
"""


def test_a_fork_loop_stops_at_its_process_cap_and_the_verdict_says_pids():
    require_controller("pids")
    with Cgroup.create("test-pids", Limits(pids=20)) as group:
        done = run(group, FORK_LOOP)
        count, refused = done.stdout.split()
        # 20 processes at once: the script and 19 children; the 20th child is refused.
        assert (done.returncode, count, refused) == (3, "19", str(errno.EAGAIN)), done
        assert group.verdict(done.returncode, done.stdout) == "pids"
        assert group.peak_pids() in (None, 20)
    assert not leftover_dirs("test-pids")


def test_the_cpu_cap_is_one_core_where_the_cpu_controller_is_writable():
    p = require_controller("cpu")
    with Cgroup.create("test-cpu", Limits(cpu=1.0)) as group:
        folder = group.folders["cpu"]
        if p.kind == "v2":
            assert (folder / "cpu.max").read_text().split() == ["100000", "100000"]
        else:
            assert (folder / "cpu.cfs_quota_us").read_text().strip() == "100000"
            assert (folder / "cpu.cfs_period_us").read_text().strip() == "100000"
        done = run(group, "print(open('/proc/self/cgroup').read())")
        assert "handson-test-cpu" in done.stdout


def test_close_kills_what_the_script_left_and_removes_every_cgroup_folder():
    p = require_controller("pids")
    group = Cgroup.create("test-cleanup", Limits())
    made = [group.folders[c] for c in p.controllers]
    assert all(folder.is_dir() for folder in made)
    # A daemon: double fork, new session, so neither the process group nor the parent finds it.
    done = run(group, """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                # Off the captured pipes, or the test would wait for their end with it.
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                time.sleep(300)
            os._exit(0)
        os.wait()
    """)
    assert done.returncode == 0, done
    left = group.pids()
    assert len(left) == 1, left
    daemon = left.pop()
    assert group.close() == 1
    assert not any(folder.exists() for folder in made)
    assert gone(daemon)
    group.close()  # a second close is harmless
    assert not set(limits.stale()) & set(made)


def test_an_unused_cgroup_is_removed_too():
    require_controller("pids")
    group = Cgroup.create("test-unused", Limits())
    assert group.close() == 0
    assert not leftover_dirs("test-unused")


# -- bubblewrap's tmpfs (root) ---------------------------------------------------------------------------
# The tmpfs hides /tmp, where a checkout (and its .venv) may live: Debian's own python3 is outside it.
PYTHON_OUTSIDE_TMP = next((p for p in ("/usr/bin/python3", sys.executable) if not p.startswith("/tmp/")),
                          sys.executable)


def test_a_sized_tmp_holds_no_more_than_its_size():
    require(os.geteuid() == 0, "bubblewrap runs as root in the grader")
    require(bool(limits.bwrap_has_size()), "bubblewrap with --size is not installed (apt-get install bubblewrap)")
    cap = Limits(tmp=MiB)
    code = textwrap.dedent("""
        import os
        st = os.statvfs('/tmp')
        print(st.f_blocks * st.f_frsize, os.getuid())
        with open('/tmp/fill', 'wb') as f:
            f.write(b'x' * (3 << 20))
    """)
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *limits.bwrap_tmpfs("/tmp", cap),
            "--", "setpriv", f"--reuid={UNPRIVILEGED}", f"--regid={UNPRIVILEGED}", "--clear-groups",
            PYTHON_OUTSIDE_TMP, "-c", code]
    done = subprocess.run(argv, capture_output=True, text=True)
    size, uid = done.stdout.split()
    assert (int(size), int(uid)) == (MiB, UNPRIVILEGED), done
    assert done.returncode == 1 and f"[Errno {errno.ENOSPC}] No space left on device" in done.stderr, done.stderr


# -- reporting ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("verdict", ["memory", "pids", "fsize"])
def test_every_verdict_is_a_message_in_both_languages(verdict):
    from grader.i18n import t_in

    for lang in ("en", "ja"):
        text = t_in(lang, f"limits.hit_{verdict}", script="step2.py", limit="1 GiB")
        assert "step2.py" in text and "1 GiB" in text


def test_the_size_options_reach_the_config(monkeypatch):
    from grader import config

    class Options:
        values = {"script_memory": "512M", "script_tmp": None, "script_file_size": None}

        def getoption(self, name):
            return self.values[name]

        def getini(self, name):
            return ""

    monkeypatch.setenv("HANDSON_SCRIPT_FILE_SIZE", "1G")
    assert [config._size(Options(), n) for n in ("script_memory", "script_tmp", "script_file_size")] == \
        [512 * MiB, 256 * MiB, GiB]
    Options.values["script_memory"] = "lots"
    with pytest.raises(ValueError, match="--script-memory"):
        config._size(Options(), "script_memory")


# -- wired into the sandbox and the runner (the wiring commit) -------------------------------------------
def bwrap_plan() -> sandbox.Plan:
    require(os.geteuid() == 0, "the bubblewrap sandbox needs root")
    try:
        return sandbox.plan("bwrap")
    except ValueError as e:
        require(False, f"--sandbox bwrap does not work here: {e}")


def test_in_the_sandbox_tmp_shm_and_home_are_sized_and_files_capped(tmp_path):
    require(bool(limits.bwrap_has_size()), "bubblewrap with --size is not installed")
    tmp_path.chmod(0o711)  # as sandbox.new_base makes it: the script's uid must pass through to its HOME
    box = sandbox.Box(bwrap_plan(), tmp_path, tmp_path, lim=Limits(tmp=MiB, fsize=2 * MiB))
    box.prepare(None)
    code = textwrap.dedent("""
        import os
        def fill(path, size):
            try:
                with open(path, 'wb') as f:
                    f.write(b'x' * size)
                return 'ok'
            except OSError as e:
                return str(e.errno)
        home = os.environ['HOME']
        print(fill('/tmp/f', 3 << 20), fill('/dev/shm/f', 3 << 20), fill(home + '/f', 3 << 20),
              fill('big', 3 << 20), fill('small', 1 << 20))
    """)
    try:
        done = subprocess.run(box.argv([sys.executable, "-c", code]), cwd=box.cwd, env=box.env({"PATH": "/usr/bin:/bin"}),
                              capture_output=True, text=True)
    finally:
        box.cleanup()
    nospace, toobig = str(errno.ENOSPC), str(errno.EFBIG)
    assert done.stdout.split() == [nospace, nospace, nospace, toobig, "ok"], done


def test_the_runner_reports_the_memory_cap_that_stopped_a_script(tmp_path):
    from conftest import fake_stack_info
    from grader.runner import run_script

    require_controller("memory")
    submission = tmp_path / "learner"
    submission.mkdir()
    (submission / "step9.py").write_text("pieces = [b'x' * (64 << 20) for _ in range(24)]\nprint('survived')\n")
    before = set(limits.stale())  # a grader killed earlier in this session may have left some behind
    result = run_script(submission, "step9.py", fake_stack_info(), "exp", tmp_path, "model", 120.0,
                        plan=bwrap_plan(), limits=Limits(memory=256 * MiB))
    assert not result.ok and "survived" not in result.output, result
    assert (result.limit, result.limit_value) == ("memory", "256 MiB")
    assert not set(limits.stale()) - before
