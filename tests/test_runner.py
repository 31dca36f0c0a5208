"""Unit tests of the submission runner: timeouts, leftovers, huge output, broken scripts, the contract.

No stack is needed: the scripts never talk to MLflow, so the StackInfo points at closed ports.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import fake_stack_info
from grader import runner, sandbox
from grader.runner import HEAD_BYTES, TAIL_BYTES, run_script

INFO = fake_stack_info()
EXPERIMENT = "handson-test-exp"
MODEL = "handson-test-model"
# Room for the "... [N bytes of output not kept] ..." line between head and tail.
MARKER_ROOM = 200


@pytest.fixture
def submission(tmp_path) -> Path:
    folder = tmp_path / "learner"
    folder.mkdir()
    return folder


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "sample.csv").write_text("x,y\n1,2\n")
    return folder


def write(folder: Path, name: str, code: str) -> None:
    """The script runs in a copy of ``folder``; ``OUT/`` in its code names the original, where the test
    reads what the script reports (these tests run without isolation: see tests/test_isolation.py)."""
    code = textwrap.dedent(code).replace("OUT/", f"{folder}/")
    (folder / name).write_text(code, encoding="utf-8")


# The runner's own process handling, without a sandbox's namespaces (the same-user mode of a laptop).
SAME_USER = sandbox.Plan("none", "sandbox.asked_none")


# Every test of the runner's behaviour runs cold (``python stepN.py``) and warm (grader/warm.py, here
# warming light modules): a script cannot tell them apart.
WARM = None


@pytest.fixture(autouse=True, params=["cold", "warm"])
def _mode(request, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "WARM", ("json", "decimal") if request.param == "warm" else None)


def run(submission: Path, data_dir: Path, name: str = "step1.py", timeout: float = 30.0):
    return run_script(submission, name, INFO, EXPERIMENT, data_dir, MODEL, timeout, plan=SAME_USER, warm=WARM)


def is_running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait a moment for init to reap it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pids, timeout: float = 3.0) -> list[int]:
    """The pids still running after ``timeout`` (a SIGKILLed process takes a moment to vanish)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if is_running(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def processes_with_token(token: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("HANDSON_RUN_TOKEN") == token:
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
        except (psutil.NoSuchProcess, ProcessLookupError, psutil.ZombieProcess):
            continue
    return members


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


# -- timeouts ----------------------------------------------------------------------------------------
def test_hanging_script_times_out_and_its_group_is_killed(submission, data_dir):
    write(submission, "step1.py", """
        import json, os, subprocess, sys, time
        # A child in the script's own process group: it must die with the script.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
        with open("OUT/pids.json", "w") as f:
            json.dump({"pid": os.getpid(), "pgid": os.getpgid(0), "child": child.pid}, f)
        print("about to hang", flush=True)
        time.sleep(1000)
    """)
    start = time.monotonic()
    result = run(submission, data_dir, timeout=2)
    elapsed = time.monotonic() - start

    assert result.exists
    assert result.timed_out
    assert not result.ok
    assert result.timeout == 2
    assert result.returncode is not None and result.returncode != 0
    assert elapsed < 8, f"run_script took {elapsed:.1f} s for a 2 s timeout"
    assert 1.5 < result.duration < 8
    assert "about to hang" in result.output
    pids = json.loads((submission / "pids.json").read_text())
    # start_new_session: the script leads its own group, separate from the grader's.
    assert pids["pgid"] == pids["pid"] != os.getpgid(0)
    assert wait_gone([pids["pid"], pids["child"]]) == []
    assert group_members(pids["pgid"]) == []


def test_a_script_is_stopped_when_asked_and_its_group_is_killed(submission, data_dir):
    """``go(stop_when)``: the grader stops a script whose stack failed (MLflow's client would retry for minutes)
    as soon as ``stop_when()`` says so, long before its timeout, and what it started goes with it."""
    write(submission, "step1.py", """
        import json, os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
        with open("OUT/pids.json", "w") as f:
            json.dump({"pid": os.getpid(), "child": child.pid}, f)
        print("retrying", flush=True)
        time.sleep(1000)
    """)
    asked = []

    def stop_when():
        asked.append(submission.joinpath("pids.json").exists())
        return asked[-1]  # once the script is under way

    pending = runner.start_script(submission, "step1.py", INFO, EXPERIMENT, data_dir, MODEL, 20, plan=SAME_USER,
                                  warm=WARM)
    result = pending.go(stop_when)
    assert asked and asked[-1] and not any(asked[:-1]), asked
    assert not result.timed_out and not result.ok, result
    assert result.returncode is not None and result.returncode < 0, result  # killed, not ended by itself
    assert "retrying" in result.output
    pids = json.loads((submission / "pids.json").read_text())
    assert wait_gone([pids["pid"], pids["child"]]) == []


@pytest.mark.slow  # waits out the timeout and the grace before SIGKILL (about 4 s)
def test_script_ignoring_sigterm_is_still_stopped(submission, data_dir):
    write(submission, "step1.py", """
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open("OUT/pid.txt", "w").write(str(os.getpid()))
        while True:
            time.sleep(0.1)
    """)
    start = time.monotonic()
    result = run(submission, data_dir, timeout=1)
    elapsed = time.monotonic() - start
    assert result.timed_out
    assert elapsed < 10, f"a script ignoring SIGTERM held run_script for {elapsed:.1f} s"
    assert wait_gone([int((submission / "pid.txt").read_text())]) == []


# -- leftovers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["popen_new_session", "fork_setsid"])
def test_daemonised_child_is_killed_and_does_not_hold_run_script(submission, data_dir, how):
    """The script starts a child in a new session that inherits stdout, prints its pid and exits 0."""
    if how == "popen_new_session":
        spawn = """
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                     start_new_session=True)
            pid = child.pid
        """
    else:
        spawn = """
            pid = os.fork()
            if pid == 0:
                os.setsid()
                time.sleep(120)
                os._exit(0)
        """
    write(submission, "step1.py", "import os, subprocess, sys, time\n" + textwrap.dedent(spawn) + textwrap.dedent("""
        open("OUT/token.txt", "w").write(os.environ["HANDSON_RUN_TOKEN"])
        print(f"CHILD={pid}", flush=True)
        sys.exit(0)
    """))
    start = time.monotonic()
    result = run(submission, data_dir)
    elapsed = time.monotonic() - start

    assert result.returncode == 0, result.output
    assert result.ok
    # Not waiting for the child's copy of the stdout pipe to close (the child sleeps 120 s).
    assert elapsed < 4, f"run_script took {elapsed:.1f} s: it waited on the daemonised child"
    child = int(result.output.split("CHILD=")[1].split()[0])
    token = (submission / "token.txt").read_text()
    assert len(token) >= 16
    assert result.leftovers_killed >= 1
    assert wait_gone([child]) == [], f"the daemonised child {child} outlived run_script"
    assert processes_with_token(token) == []


def test_child_in_the_scripts_group_without_the_marker_is_killed(submission, data_dir):
    """A background child that stays in the script's group but drops its environment (env={...})."""
    write(submission, "step1.py", """
        import os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 env={"PATH": os.environ.get("PATH", "")})
        open("OUT/pids.json", "w").write(f'{{"pid": {os.getpid()}, "child": {child.pid}}}')
        print("leaving a background child behind", flush=True)
    """)
    start = time.monotonic()
    result = run(submission, data_dir)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.output
    pids = json.loads((submission / "pids.json").read_text())
    assert wait_gone([pids["child"]]) == [], "a child left in the script's process group outlived run_script"
    assert group_members(pids["pid"]) == []
    assert elapsed < 4, f"run_script took {elapsed:.1f} s: it waited on the child's stdout"


def test_escaped_child_still_holding_stdout_is_killed(submission, data_dir):
    """New session *and* no marker: the only trace left is the script's stdout pipe it still holds."""
    write(submission, "step1.py", """
        import os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 start_new_session=True, env={"PATH": os.environ.get("PATH", "")})
        print(f"CHILD={child.pid}", flush=True)
    """)
    start = time.monotonic()
    result = run(submission, data_dir)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.output
    child = int(result.output.split("CHILD=")[1].split()[0])
    assert wait_gone([child]) == [], "a child in its own session, without the marker, outlived run_script"
    assert elapsed < 4, f"run_script took {elapsed:.1f} s: it waited on the child's stdout"


def test_leftover_that_keeps_respawning_is_stopped(submission, data_dir):
    """A daemon that restarts its worker as soon as it dies: every marked process is gone afterwards."""
    write(submission, "step1.py", """
        import os, subprocess, sys, time
        supervisor = ("import subprocess, sys\\n"
                      "while True:\\n"
                      "    worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\\n"
                      "    open('OUT/workers.txt', 'a').write(f'{worker.pid}\\\\n')\\n"
                      "    worker.wait()\\n")
        subprocess.Popen([sys.executable, "-c", supervisor], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        open("OUT/token.txt", "w").write(os.environ["HANDSON_RUN_TOKEN"])
        while not os.path.exists("OUT/workers.txt"):
            time.sleep(0.05)
    """)
    result = run(submission, data_dir)
    assert result.returncode == 0, result.output
    token = (submission / "token.txt").read_text()
    deadline = time.monotonic() + 3
    while processes_with_token(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with_token(token) == []
    workers = [int(pid) for pid in (submission / "workers.txt").read_text().split()]
    assert workers and wait_gone(workers) == []


# -- output --------------------------------------------------------------------------------------------
def test_huge_output_is_bounded_and_costs_no_memory(submission, data_dir):
    line = "x" * 99 + "\n"
    blocks, block_lines = 500, 1000  # 500 * 1000 * 100 bytes = 50 MB
    write(submission, "step1.py", f"""
        import sys
        out = sys.stdout
        out.write("FIRST LINE OF OUTPUT\\n")
        block = {line!r} * {block_lines}
        for _ in range({blocks}):
            out.write(block)
        out.write("LAST LINE OF OUTPUT\\n")
    """)
    expected_total = len("FIRST LINE OF OUTPUT\n") + blocks * block_lines * len(line) + len("LAST LINE OF OUTPUT\n")

    me = psutil.Process()
    before = me.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run(submission, data_dir, timeout=60)
    finally:
        stop.set()
        sampler.join()
    after = me.memory_info().rss

    assert result.ok, result.tail()
    assert result.output_bytes == expected_total
    assert len(result.output) <= HEAD_BYTES + TAIL_BYTES + MARKER_ROOM
    assert result.output.startswith("FIRST LINE OF OUTPUT\n")
    assert result.output.rstrip().endswith("LAST LINE OF OUTPUT")
    assert result.tail(1) == "LAST LINE OF OUTPUT"
    assert "bytes of output not kept" in result.output
    growth = max(peak[0], after) - before
    assert growth < 20 * 1024 * 1024, f"grader memory grew by {growth / 2**20:.1f} MiB for 50 MB of output"


def test_small_output_is_kept_whole(submission, data_dir):
    write(submission, "step1.py", """
        import sys
        print("to stdout")
        print("to stderr", file=sys.stderr)
    """)
    result = run(submission, data_dir)
    assert result.ok
    assert "to stdout" in result.output and "to stderr" in result.output
    assert "not kept" not in result.output
    assert result.output_bytes == len(result.output.encode())


# -- broken scripts ------------------------------------------------------------------------------------
def test_syntax_error(submission, data_dir):
    write(submission, "step1.py", "print('hello'\nx = = 1\n")
    result = run(submission, data_dir)
    assert result.exists
    assert not result.timed_out
    assert result.returncode not in (0, None)
    assert not result.ok
    assert "SyntaxError" in result.output


def test_missing_script_runs_nothing(submission, data_dir, monkeypatch):
    def no_process(*args, **kwargs):
        raise AssertionError("run_script started a process for a missing script")

    monkeypatch.setattr(runner.subprocess, "Popen", no_process)
    result = run(submission, data_dir, name="step3.py")
    assert result.exists is False
    assert result.returncode is None
    assert not result.ok
    assert result.output == "" and result.output_bytes == 0
    assert result.script == str(submission / "step3.py")


def test_exception_traceback_is_in_the_tail(submission, data_dir):
    write(submission, "step1.py", """
        print("some setup output")

        def learner_function():
            raise ValueError("boom from the learner's script")

        learner_function()
    """)
    result = run(submission, data_dir)
    assert result.returncode == 1
    assert not result.ok and not result.timed_out
    tail = result.tail(10)
    assert "Traceback (most recent call last)" in tail
    assert "learner_function" in tail
    assert 'step1.py", line' in tail
    assert tail.rstrip().endswith("ValueError: boom from the learner's script")


# -- the contract ----------------------------------------------------------------------------------------
def test_cwd_and_contract_variables(submission, data_dir):
    write(submission, "step2.py", """
        import json, os, sys
        names = ["MLFLOW_TRACKING_URI", "HANDSON_EXPERIMENT", "HANDSON_DATA_DIR", "HANDSON_MODEL_NAME"]
        json.dump({"cwd": os.getcwd(), "argv0": sys.argv[0], "executable": sys.executable,
                   "env": {n: os.environ.get(n) for n in names},
                   "data_files": sorted(os.listdir(os.environ["HANDSON_DATA_DIR"]))}, open("OUT/seen.json", "w"))
    """)
    result = run(submission, data_dir, name="step2.py")
    assert result.ok, result.output
    seen = json.loads((submission / "seen.json").read_text())
    # cwd is a private copy of the submission folder (the script cannot change the original).
    assert os.path.realpath(seen["cwd"]) != os.path.realpath(submission)
    assert Path(seen["cwd"]).name == "work"
    assert seen["argv0"] == "step2.py"
    assert os.path.realpath(seen["executable"]) == os.path.realpath(sys.executable)
    data_seen = seen["env"].pop("HANDSON_DATA_DIR")
    assert seen["env"] == {
        "MLFLOW_TRACKING_URI": INFO.tracking_uri,
        "HANDSON_EXPERIMENT": EXPERIMENT,
        "HANDSON_MODEL_NAME": MODEL,
    }
    # A readable copy of data/ (the original may sit where the script's user cannot reach).
    assert Path(data_seen).is_absolute() and Path(data_seen).name == "data"
    assert seen["data_files"] == sorted(p.name for p in data_dir.iterdir())


def test_contract_variables_override_the_graders_own(submission, data_dir, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    monkeypatch.setenv("HANDSON_EXPERIMENT", "not-this-one")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "not-this-either")
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef")
    write(submission, "step1.py", """
        import json, os
        json.dump(dict(os.environ), open("OUT/env.json", "w"))
    """)
    assert run(submission, data_dir).ok
    env = json.loads((submission / "env.json").read_text())
    assert env["MLFLOW_TRACKING_URI"] == INFO.tracking_uri
    assert env["HANDSON_EXPERIMENT"] == EXPERIMENT
    assert "MLFLOW_EXPERIMENT_NAME" not in env
    assert "MLFLOW_RUN_ID" not in env


def test_started_ms_precedes_the_script(submission, data_dir):
    write(submission, "step1.py", """
        import time
        open("OUT/t.txt", "w").write(str(int(time.time() * 1000)))
    """)
    result = run(submission, data_dir)
    assert result.ok
    script_ms = int((submission / "t.txt").read_text())
    assert result.started_ms <= script_ms
    assert script_ms - result.started_ms < 30_000


@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_scripts_copy_and_home_are_gone_when_it_ends(submission, data_dir, mode):
    """Nothing of a script outlives it in the grading run's sandbox folder: not its copy of the folder, not
    its HOME, not its relay socket (the server chooses every artifact location, so none points there)."""
    if mode == "bwrap":
        if os.geteuid() != 0:
            pytest.skip("bubblewrap isolation needs root")
        try:
            plan = sandbox.plan("bwrap")
        except ValueError as e:
            pytest.skip(str(e))
    else:
        plan = SAME_USER
    write(submission, "step1.py", """
        import os
        open(os.path.join(os.environ["HOME"], "left-in-home.txt"), "w").write("x")
        open("left-in-copy.txt", "w").write("x")
        print(os.getcwd())
    """)
    base = sandbox.new_base(data_dir)
    try:
        result = run_script(submission, "step1.py", INFO, EXPERIMENT, data_dir, MODEL, 30.0, plan=plan, base=base,
                            warm=WARM)
        assert result.ok, result.output
        left = sorted(str(p.relative_to(base)) for p in base.glob("s-*"))
        assert left == [], left
        assert not list(base.rglob("left-in-*.txt"))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_warm_runs_come_from_the_warm_interpreter(submission, data_dir):
    """The control of the cold/warm pairs above: the warm run's interpreter had imported its modules (the one
    thing a script could see), the cold one had not; timing starts at go, not at the start of the import."""
    write(submission, "step1.py", """\
        import sys
        print("decimal" in sys.modules)
        """)
    result = run(submission, data_dir)
    assert result.ok, result.output
    assert result.output.strip() == str(WARM is not None)


def test_an_unused_warm_interpreter_ends_and_leaves_nothing(submission, data_dir):
    """A step started ahead and then not graded (``-k``, a learner who stopped) is abandoned: its process and
    its box go, and the script never ran."""
    if WARM is None:
        pytest.skip("warm only")
    write(submission, "step1.py", """
        open("OUT/ran.txt", "w").write("x")
    """)
    base = sandbox.new_base(data_dir)
    try:
        pending = runner.start_script(submission, "step1.py", INFO, EXPERIMENT, data_dir, MODEL, 30.0,
                                      plan=SAME_USER, base=base, warm=WARM)
        pid = pending.launch.proc.pid
        pending.abandon()
        assert wait_gone([pid]) == []
        assert not (submission / "ran.txt").exists()
        assert list(base.glob("s-*")) == []
        assert pending.go().returncode is None  # nothing runs after abandon
    finally:
        shutil.rmtree(base, ignore_errors=True)
