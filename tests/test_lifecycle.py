"""Showing what a grading would do is not grading: ``pytest --help`` and ``pytest --collect-only`` start no
process, open no connection and create no work folder (issue 22).

Each command runs in a subprocess whose ``sitecustomize`` installs an audit hook (PEP 578) that writes every
process start and socket connection into a file, so nothing the grader or a library it imports does escapes
the count. A control run shows the hook does record such events: an empty file means none happened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT

# The audit events of starting a process (in any of Python's ways) and of connecting a socket.
WATCHED = ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system", "socket.connect")

SITECUSTOMIZE = textwrap.dedent("""\
    import os
    import sys

    _LOG = os.environ["HANDSON_TEST_AUDIT_LOG"]
    _WATCHED = {watched!r}


    def _write(line):
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(line + "\\n")


    def _hook(event, args):
        if event in _WATCHED:
            _write(f"event {{os.getpid()}} {{event}} {{args!r:.300}}")


    # Written first: proves this process ran with the hook, so an empty event list means something.
    _write(f"hooked {{os.getpid()}} {{sys.argv!r}}")
    sys.addaudithook(_hook)
""").format(watched=set(WATCHED))


def audited(tmp_path: Path, argv: list[str]) -> tuple[subprocess.CompletedProcess, list[str], list[str], Path]:
    """Run ``python *argv`` from the repository with the audit hook on. Returns the process, the lines saying
    which processes were hooked, the events recorded, and the temp folder the run was given (TMPDIR)."""
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "audit.log"
    log.unlink(missing_ok=True)
    temp = tmp_path / "tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hook_dir), env.get("PYTHONPATH")])),
        "HANDSON_TEST_AUDIT_LOG": str(log),
        # No recorded stack to find: if the backend were chosen, it would look here.
        "HANDSON_STACK_FILE": str(tmp_path / "no-stack.json"),
        "TMPDIR": str(temp),
    })
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    hooked = [line for line in lines if line.startswith("hooked ")]
    events = [line for line in lines if line.startswith("event ")]
    return proc, hooked, events, temp


def test_the_hook_records_a_process_start_and_a_connection(tmp_path):
    """The control: the same hook, on a program that does start a process and connect a socket."""
    code = ("import socket, subprocess; subprocess.run(['true']); "
            "s = socket.socket(); s.settimeout(1); s.connect_ex(('127.0.0.1', 9)); s.close()")
    proc, hooked, events, _ = audited(tmp_path, ["-c", code])
    assert proc.returncode == 0, proc.stderr
    assert len(hooked) == 1, hooked
    assert any(" subprocess.Popen " in e for e in events), events
    assert any(" socket.connect " in e for e in events), events


def two_learner_class(tmp_path: Path) -> Path:
    """A class of two learners, each a copy of the stubs."""
    folder = tmp_path / "class"
    for name in ("alice", "bob"):
        shutil.copytree(ROOT / "exercises", folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.mark.parametrize("mode", ["help", "collect", "collect-class", "markers", "fixtures",
                                  "setup-plan"])
def test_showing_the_suite_starts_nothing(tmp_path, mode):
    """--help and --collect-only (of exercises/ and of a class), like pytest's other modes that only show the
    suite, may read folders, but choose no stack backend (no docker, no health check), probe no sandbox, create
    no work folder and spawn no guard."""
    argv = ["-m", "pytest", "-p", "no:cacheprovider"]
    if mode == "help":
        argv += ["--help"]
    elif mode in ("markers", "fixtures"):
        argv += [f"--{mode}"]
    elif mode == "setup-plan":
        argv += ["checks", "--setup-plan"]
    else:
        argv += ["checks", "--collect-only", "-q"]
        if mode == "collect-class":
            argv += [f"--submissions={two_learner_class(tmp_path)}"]
    proc, hooked, events, temp = audited(tmp_path, argv)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert len(hooked) == 1, f"the hook did not run in pytest, or pytest started Python again: {hooked}"
    assert events == [], "\n".join(events)
    assert sorted(p.name for p in temp.iterdir()) == [], "created in the temp folder"
    if mode == "help":
        assert "--submissions" in output, output
    elif mode == "collect":
        assert "checks/test_step1.py::test_server[exercises]" in output, output
    elif mode == "collect-class":
        assert "[alice]" in output and "[bob]" in output, output


def test_a_grading_run_still_prepares_at_configuration(tmp_path):
    """The other control, inside pytest: a run that grades (here one whose checks are all deselected, on a
    backend and sandbox that need no probing) still creates its work folder and guard before any check, so a
    sandbox that cannot work stops it at once, header or not (-q)."""
    argv = ["-m", "pytest", "-p", "no:cacheprovider", "checks", "-q", "-k", "no_such_check", "--stack=embedded",
            "--sandbox=none"]
    proc, hooked, events, _ = audited(tmp_path, argv)
    assert proc.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, proc.stdout + proc.stderr
    assert len(hooked) == 1, hooked
    assert [e for e in events if " subprocess.Popen " in e and "'-S'" in e], f"no guard process: {events}"


# -- a stack failure is kept once --------------------------------------------------------------------------
def _session(tmp_path, monkeypatch, start):
    """A controller's session on a fake backend whose ``start`` is ``start``; nothing is spawned."""
    from grader import session as session_module
    from grader.config import GraderConfig

    class Backend:
        starts = 0

        def start(self):
            Backend.starts += 1
            return start()

        def stop(self):
            pass

    monkeypatch.setattr(session_module, "stack_client", lambda name, folder, **options: Backend())
    monkeypatch.setattr(session_module, "guard", lambda *args: None)
    cfg = GraderConfig(rootdir=ROOT, submission=ROOT / "exercises", submissions=None, stack="local",
                       submission_timeout=60, stack_timeout=60, lang="en", grade_json=None, gradebook=None,
                       shard=None, ports={}, debug=False, sandbox="none")
    grading = session_module.GradingSession(cfg)
    grading._workdir = tmp_path
    return grading, Backend


def test_a_failed_start_is_told_the_same_everywhere_and_never_retried(tmp_path, monkeypatch):
    from grader.session import GradingSession
    from grader.stack import StackError

    def start():
        raise StackError("minio", "port 9000 is taken")

    grading, backend = _session(tmp_path, monkeypatch, start)
    told = []
    for ask in (grading.stack, grading.ensure_healthy, grading.stack):
        with pytest.raises(StackError) as failed:
            ask()
        told.append((failed.value.service, failed.value.describe()))
    assert backend.starts == 1
    assert told[0][0] == "minio" and "port 9000 is taken" in told[0][1] and len(set(told)) == 1, told
    handed = grading.workerinput()
    assert handed["handson_stack"] is None
    assert (handed["handson_stack_error_service"], handed["handson_stack_error"]) == told[0]
    worker = GradingSession(grading.cfg, handed)
    for ask in (worker.stack, worker.ensure_healthy):
        with pytest.raises(StackError) as failed:
            ask()
        assert (failed.value.service, failed.value.describe()) == told[0]


def test_a_service_dead_for_good_fails_health_checks_but_leaves_the_stack_readable(tmp_path, monkeypatch):
    """After ensure_healthy found a service dead, later checks fail fast with the same words; stack() still
    answers (step 1 grades a learner's own external stack by reading it), and a worker gets the stack."""
    from conftest import fake_stack_info
    from grader.stack import StackError

    info = fake_stack_info()
    grading, backend = _session(tmp_path, monkeypatch, lambda: info)
    probes = []

    def probe():
        probes.append(1)
        raise StackError("mlflow", "/health stopped answering")

    monkeypatch.setattr(grading, "_probe", probe)
    with pytest.raises(StackError) as first:
        grading.ensure_healthy()
    with pytest.raises(StackError) as again:
        grading.ensure_healthy()
    assert len(probes) == 1, "a service dead for good is not probed again"
    assert (again.value.service, again.value.describe()) == ("mlflow", first.value.describe())
    assert grading.stack() is info and backend.starts == 1
    handed = grading.workerinput()
    assert handed["handson_stack"] == info.to_json() and handed["handson_stack_error"] is None


# -- the one owner loop: the serve process and `stack up` ---------------------------------------------------
class _Told:
    """An owner that writes down what ``hold`` tells it."""

    def __init__(self):
        self.said = []

    def ready(self, info, path):
        self.said.append(("ready", path.is_file(), oct(path.stat().st_mode & 0o777), info.owner_pid))

    def failed(self, error):
        self.said.append(("failed", error.service))

    def event(self, event):
        self.said.append(("event", event["service"], event.get("restarted")))

    def stopping(self):
        self.said.append(("stopping",))

    def stopped(self):
        self.said.append(("stopped",))


class _ChildBackend:
    """A backend whose one "service" is a real child process (``sleep``); no events file (no watchdog)."""

    def __init__(self):
        self.proc = None
        self.stopped = False

    def start(self):
        from conftest import fake_stack_info
        import dataclasses

        self.proc = subprocess.Popen(["sleep", "60"])
        return dataclasses.replace(fake_stack_info(), pids={"mlflow": self.proc.pid})

    def stop(self):
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_hold_ends_when_a_service_dies_and_says_which(tmp_path):
    from grader.stack import serve

    backend, told = _ChildBackend(), _Told()
    path = tmp_path / "stack.json"

    def kill_later():
        import time

        while not path.exists():
            time.sleep(0.05)
        backend.proc.kill()

    import threading

    threading.Thread(target=kill_later, daemon=True).start()
    code = serve.hold(backend, path, told, end_on_failure=True)
    assert code == serve.FAILED
    assert told.said == [("ready", True, "0o600", os.getpid()), ("event", "mlflow", False), ("stopping",),
                         ("stopped",)]
    assert backend.stopped and not path.exists()


def test_hold_stops_on_sigterm_with_exit_code_0(tmp_path):
    """What ``stack down`` (and the grader, to its serve process) sends: the stack stops, the file goes."""
    code = textwrap.dedent(f"""\
        import sys
        sys.path[:0] = [{str(ROOT / "tests")!r}, {str(ROOT)!r}]
        from test_lifecycle import _ChildBackend, _Told
        from grader.stack import serve
        from pathlib import Path
        told = _Told()
        backend = _ChildBackend()
        rc = serve.hold(backend, Path({str(tmp_path / "stack.json")!r}), told)
        print(rc, told.said, backend.stopped, backend.proc.poll() is not None, flush=True)
        """)
    import time

    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "stack.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    rc, rest = out.split(" ", 1)
    assert rc == "0" and "('stopping',), ('stopped',)] True True" in rest, out
    assert not (tmp_path / "stack.json").exists()


def test_hold_reports_a_failed_start_and_writes_no_stack_file(tmp_path):
    from grader.stack import StackError, serve

    class Broken:
        stopped = False

        def start(self):
            raise StackError("minio", "port 9000 is taken")

        def stop(self):
            Broken.stopped = True

    told = _Told()
    assert serve.hold(Broken(), tmp_path / "stack.json", told) == serve.FAILED
    assert told.said == [("failed", "minio")] and Broken.stopped
    assert not (tmp_path / "stack.json").exists()
