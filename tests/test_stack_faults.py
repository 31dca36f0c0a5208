"""Stack faults on real processes: busy ports, services that never get ready or die at once, a failed start,
services killed in the middle of a grading run, Ctrl-C — and never a process left behind.

No mocks: MariaDB, MinIO and MLflow run for real, and the faults are real (a listening socket, a closed port,
SIGKILL, SIGINT). Every test is watched by ``_no_orphans``: each process started during the test carries a
mark in its environment, and whatever carries it (or was seen as a descendant of this process) must be gone
when the test ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from conftest import ROOT, grade, require_local_stack
from grader import catalog
from grader.stack.base import ServiceProcess, StackError
from grader.stack.mlflow_server import start_mlflow_server

GRADER_TRACEBACK = re.compile(r'File "[^"]*grader/')
MARK = "STACK_FAULTS_TEST_MARK"
ALL_CHECKS = [c.id for c in catalog.CHECKS]
STEP1_CHECKS = [c.id for c in catalog.CHECKS if c.step == "step1"]
GRADED = [c.id for c in catalog.CHECKS if c.step in ("step1", "step3")]  # in the mid-batch kill tests
# Facts about the stack (no script): in step1 they run before any learner's script.
STACK_FACT_CHECKS = {"step1.server", "step1.backend_tables", "step1.artifact_bucket"}

pytestmark = [pytest.mark.realstack, pytest.mark.slow, pytest.mark.alone]


# -- no orphans ------------------------------------------------------------------------------------
class ProcessWatch:
    """Records every descendant of this process (sampled) and finds processes carrying this test's mark."""

    def __init__(self, mark: str):
        self.mark = mark
        self.seen: dict[int, tuple[float, str]] = {}
        # Processes already running when the test started (a session-scoped stack) are not its own.
        self.baseline = set()
        for proc in psutil.Process().children(recursive=True):
            try:
                self.baseline.add((proc.pid, proc.create_time()))
            except psutil.Error:
                continue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "ProcessWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.sample()

    def sample(self) -> None:
        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:
            return
        for proc in children:
            self.note(proc)

    def note(self, proc: psutil.Process) -> None:
        # Sampled again while it lives: a process first seen between its fork and its exec (bubblewrap's
        # child, say) is recorded under the command it runs in the end.
        try:
            if (proc.pid, proc.create_time()) not in self.baseline:
                self.seen[proc.pid] = (proc.create_time(), " ".join(proc.cmdline())[:160])
        except psutil.Error:
            pass

    def survivors(self) -> dict[int, str]:
        alive = {}
        for pid, (created, cmd) in self.seen.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    alive[pid] = cmd
            except psutil.Error:
                continue
        me = os.getpid()
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == me or proc.pid in alive:
                continue
            try:
                if proc.environ().get(MARK) == self.mark and proc.status() != psutil.STATUS_ZOMBIE:
                    alive[proc.pid] = " ".join(proc.cmdline())[:160]
            except psutil.Error:
                continue
        return alive


def _kill(pids) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


@pytest.fixture(autouse=True)
def _no_orphans(monkeypatch):
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK, mark)
    watch = ProcessWatch(mark).start()
    yield watch
    watch.stop()
    deadline = time.monotonic() + 20
    while (left := watch.survivors()) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        _kill(left)
        pytest.fail(f"processes started by this test are still alive after it: {left}")


def _gone(pid: int, created: float | None = None) -> bool:
    try:
        proc = psutil.Process(pid)
        if created is not None and proc.create_time() != created:
            return True
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _busy_port():
    """A listening socket on 127.0.0.1 and its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, sock.getsockname()[1]


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- 1. a port already in use ----------------------------------------------------------------------
@pytest.mark.parametrize("service", ["mysql", "minio", "mlflow"])
def test_busy_port_names_port_and_option(service, tmp_path):
    require_local_stack()
    from grader.stack.local import LocalStack

    sock, port = _busy_port()
    try:
        backend = LocalStack(base_dir=tmp_path, ports={service: port})
        with pytest.raises(StackError) as raised:
            backend.start()
    finally:
        sock.close()
    text = str(raised.value)
    assert raised.value.service == service, text
    assert str(port) in text and f"--{service}-port" in text, text
    assert not backend.workdir.exists(), "a failed start must remove its temp dir"


def test_free_fixed_port_is_accepted():
    """A free port that happens to be IANA-registered (5000 is MLflow's own default) is not 'in use'."""
    from grader.stack.local import free_port

    import port_for

    registered = [p for p in (5000, 5001, 3306, 9000, 8080, 8000, 3307, 9001) if p not in port_for.available_ports()]
    for port in registered:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        assert free_port("mlflow", port) == port
        return
    pytest.skip("no free registered port to try")


def test_busy_port_through_the_grader_is_an_error_not_a_failure(tmp_path):
    require_local_stack()
    sock, port = _busy_port()
    try:
        graded = grade(tmp_path, "--stack", "local", "--mlflow-port", str(port), submission=ROOT / "solutions",
                       timeout=300)
    finally:
        sock.close()
    statuses = graded.statuses()
    assert statuses == {c: "error" for c in ALL_CHECKS}, graded.output[-3000:]
    for check in ALL_CHECKS:
        message = graded.message(check)
        assert str(port) in message and "--mlflow-port" in message, f"{check}: {message}"
    assert not GRADER_TRACEBACK.search(graded.output), graded.output[-5000:]
    assert graded.returncode != 0


# -- 2. a service that never gets ready, or exits at once -----------------------------------------
@pytest.mark.parametrize("access_control", [False, True], ids=["plain", "basic-auth"])
def test_mlflow_never_healthy_times_out_with_log_and_leaves_nothing(tmp_path, access_control):
    """MLflow's database is a closed port: the server never counts as ready (its readiness reads the store,
    with the admin's login where access control is on), and the failure names MLflow and its log."""
    from grader.stack.auth import auth_setup

    port = _closed_port()
    db_port = _closed_port()
    backend = f"mysql+pymysql://u:p@127.0.0.1:{db_port}/x"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    auth = auth_setup(tmp_path, guard=True) if access_control else None
    start = time.monotonic()
    with pytest.raises(StackError) as raised:
        start_mlflow_server(tmp_path, port, backend, str(artifacts), timeout=8, auth=auth)
    took = time.monotonic() - start
    error = raised.value
    text = str(error)
    assert error.service == "mlflow", text
    assert "not ready after 8 s" in text, text
    assert took >= 8, f"gave up after {took:.1f} s"
    assert error.tail.strip(), f"no log tail in: {text}"
    assert error.tail.strip().splitlines()[-1] in text
    assert str(tmp_path / "mlflow.log") in text
    left = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if backend in cmd or (str(port) in cmd and any("mlflow" in part for part in cmd)):
            if proc.status() != psutil.STATUS_ZOMBIE:
                left.append((proc.pid, cmd))
    assert not left, f"mlflow left behind: {left}"


@pytest.mark.parametrize("access_control", [False, True], ids=["plain", "basic-auth"])
def test_mlflow_answering_health_without_its_store_is_not_ready(tmp_path, access_control):
    """uvicorn's workers answer /health before, and without, the tracking store (no ``mlflow server`` process
    opens it first any more): with its database unreachable the server answers /health during the wait, yet
    the start fails naming MLflow, the store read it waited for and its log, whose tail shows why. The control:
    the same server on a store it reaches (SQLite) is ready, and the store read it waited for needs the admin's
    login where access control is on."""
    import urllib.error
    import urllib.request

    from grader.stack.auth import auth_header, auth_setup
    from grader.stack.base import http_ok
    from grader.stack.mlflow_server import STORE_PROBE

    def server(folder, backend, timeout):
        folder.mkdir()
        (folder / "artifacts").mkdir()
        auth = auth_setup(folder, guard=True) if access_control else None
        return auth, lambda port: start_mlflow_server(folder, port, backend, str(folder / "artifacts"),
                                                      timeout=timeout, auth=auth)

    port = _closed_port()
    health = []  # what GET /health answered while the start waited
    waiting = threading.Event()

    def watch_health():
        while not waiting.is_set():
            health.append(http_ok(f"http://127.0.0.1:{port}/health"))
            waiting.wait(0.5)

    # Long enough for the workers to answer /health (seconds, more under load), short as the test waits it out.
    waited = 25
    _, start = server(tmp_path / "unreachable", f"mysql+pymysql://u:p@127.0.0.1:{_closed_port()}/x", waited)
    watcher = threading.Thread(target=watch_health, daemon=True)
    watcher.start()
    try:
        with pytest.raises(StackError) as raised:
            start(port)
    finally:
        waiting.set()
        watcher.join(timeout=5)
    text = str(raised.value)
    assert raised.value.service == "mlflow", text
    assert f"not ready after {waited} s (GET {STORE_PROBE} answered 200)" in text, text
    assert str(tmp_path / "unreachable" / "mlflow.log") in text, text
    assert any(health), "/health never answered: this start did not test the store read"
    log = (tmp_path / "unreachable" / "mlflow.log").read_text(errors="replace")
    assert "Can't connect to MySQL server" in log, log[-3000:]

    port = _closed_port()
    auth, start = server(tmp_path / "reachable", f"sqlite:///{tmp_path / 'reachable' / 'mlflow.db'}", 180)
    served = start(port)
    try:
        url = f"http://127.0.0.1:{port}{STORE_PROBE}"
        login = auth_header(auth.admin_user, auth.admin_password) if auth else {}
        with urllib.request.urlopen(urllib.request.Request(url, headers=login), timeout=30) as resp:
            assert json.load(resp)["experiment"]["experiment_id"] == "0"
        if access_control:
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url, timeout=30)
            assert refused.value.code == 401
    finally:
        served.stop()


def test_service_that_exits_at_once_is_reported_at_once(tmp_path):
    service = ServiceProcess("boomer", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                             tmp_path / "boomer.log").start()
    start = time.monotonic()
    try:
        with pytest.raises(StackError) as raised:
            service.wait_ready(lambda: False, timeout=60, what="never")
    finally:
        service.stop()
    took = time.monotonic() - start
    text = str(raised.value)
    assert took < 10, f"reported after {took:.1f} s, not at once"
    assert raised.value.service == "boomer"
    assert "code 3" in text and "boom" in text, text


# -- 3. cleanup on a failed start ------------------------------------------------------------------
@pytest.mark.parametrize("where", ["mlflow", "everything"])
def test_failed_start_stops_what_it_started(where, tmp_path, _no_orphans):
    require_local_stack()
    from grader.stack.local import LocalStack

    class SlowMlflow(LocalStack):
        def _create_schema(self, db):
            super()._create_schema(db)
            self.started = {s.name: s.pid for s in self.services}
            self.timeout = 0.5  # MLflow's workers need seconds more: it cannot be ready in time

    backend = SlowMlflow(base_dir=tmp_path) if where == "mlflow" else LocalStack(base_dir=tmp_path, timeout=0.5)
    with pytest.raises(StackError) as raised:
        backend.start()
    assert "not ready after" in str(raised.value), str(raised.value)
    if where == "mlflow":
        assert raised.value.service == "mlflow", str(raised.value)
        assert set(backend.started) == {"mysql", "minio", "mlflow"}
    _no_orphans.stop()
    started = dict(_no_orphans.seen)
    assert started, "the stack started no process"
    if where == "mlflow":
        assert set(backend.started.values()) <= set(started)
        assert any("mlflow" in cmd and "server" in cmd for _, cmd in started.values()), started
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(_gone(pid, ct) for pid, (ct, _) in started.items()):
        time.sleep(0.2)
    left = {pid: cmd for pid, (ct, cmd) in started.items() if not _gone(pid, ct)}
    assert not left, f"still running after the failed start: {left}"
    assert not backend.workdir.exists(), f"{backend.workdir} was not removed"


# -- 4. a service failing in the middle of a grading run --------------------------------------------
def _slow_step1() -> str:
    """The reference step 1, after a pause: the fault strikes while it runs."""
    return "import time\ntime.sleep(4)\n" + (ROOT / "solutions" / "step1.py").read_text()


def _strike(info, service: str, fault: str) -> None:
    """SIGSTOP or SIGKILL the service; "datadir-gone" first removes the database's data folder, so that
    no restart can succeed."""
    pid = info.pids[service]
    if fault == "SIGSTOP":
        os.kill(pid, signal.SIGSTOP)
        return
    if fault == "datadir-gone":
        shutil.rmtree(Path(info.logs["mysql"]).parent / "mysql" / "data")
    os.killpg(os.getpgid(pid), signal.SIGKILL)


@pytest.mark.parametrize("service, fault", [("mysql", "SIGSTOP"), ("mysql", "SIGKILL"), ("minio", "SIGKILL"),
                                            ("mlflow", "SIGKILL"), ("mysql", "datadir-gone")])
def test_service_failing_mid_batch(service, fault, tmp_path):
    """A service stops (SIGSTOP: it hangs) or dies while a learner's script runs. The stack's watchdog
    restarts it on its data and the affected steps are graded again: every learner keeps full points.
    Only when the restart fails (its data folder gone) do the remaining checks become errors naming it."""
    require_local_stack()
    from grader.stack import watchdog
    from grader.stack.local import LocalStack

    backend = LocalStack(base_dir=tmp_path)
    info = backend.start()
    try:
        stack_file = tmp_path / "stack.json"
        stack_file.write_text(info.to_json())
        subs = tmp_path / "subs"
        learners = ["a_slow", "b_learner", "c_learner"]
        for name in learners:
            shutil.copytree(ROOT / "solutions", subs / name)
        (subs / "a_slow" / "step1.py").write_text(_slow_step1())
        work = tmp_path / "t"
        work.mkdir()
        graded = {}
        runner = threading.Thread(target=lambda: graded.update(result=grade(
            tmp_path, "-k", "step1 or step3", stack_file=stack_file, submissions=subs, timeout=600,
            env={"TMPDIR": str(work)})))
        runner.start()
        deadline = time.monotonic() + 300
        while not list(work.glob("handson-grading-*/a_slow.step1.started")):
            assert runner.is_alive() and time.monotonic() < deadline, "the slow script never started"
            time.sleep(0.05)
        time.sleep(1)
        _strike(info, service, fault)
        runner.join(timeout=650)
        events = watchdog.events(info.events_file)
    finally:
        backend.stop()
    graded = graded["result"]
    out = graded.output
    for name in learners:
        assert (tmp_path / "grades" / name / "results.json").is_file(), f"no results.json for {name}\n{out[-3000:]}"
        assert set(graded.results[name]) == set(GRADED), f"{name}: {sorted(graded.results[name])}"
    assert [e["service"] for e in events][:1] == [service], events
    assert not GRADER_TRACEBACK.search(out), out[-5000:]
    if fault != "datadir-gone":
        assert events[0]["restarted"], events
        # The restart is reported with the script it interrupted: in the terminal and in results.json.
        assert re.search(rf"{service}: .*a_slow step1", out), out[-3000:]
        told = json.loads((tmp_path / "grades" / "a_slow" / "results.json").read_text())["extra_data"]["restarts"]
        assert [(r["service"], r["steps"]) for r in told][:1] == [(service, ["step1"])], told
        for name in learners:
            assert graded.statuses(name) == {c: "passed" for c in GRADED}, (name, out[-4000:])
        assert graded.returncode == 0, out[-3000:]
        return
    assert not events[0]["restarted"], events
    errors = [(name, check) for name in learners for check, entry in graded.results[name].items()
              if entry["status"] == "error"]
    assert errors, out[-3000:]
    for name, check in errors:
        assert f"({service})" in graded.results[name][check]["output"], graded.results[name][check]["output"]
    # Nothing graded after the failure counts as the learner's mistake.
    assert all(entry["status"] != "failed" for name in learners for entry in graded.results[name].values()), out[-3000:]
    assert graded.returncode != 0


# -- 5. Ctrl-C -------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM", "SIGHUP", "SIGKILL"])
def test_interrupted_grader_tears_down_and_keeps_results(tmp_path, how):
    """Ctrl-C (SIGINT to the group), SIGTERM or SIGHUP (a cancelled CI job, a closed terminal) to the
    grader alone: the stack goes down and the results so far are written. SIGKILL cannot be caught:
    the guard process still stops every service and removes the stack's temp folder."""
    require_local_stack()
    out_json = tmp_path / "out.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}
    env.update(HANDSON_STACK_FILE=str(tmp_path / "no-stack.json"), PYTHONUNBUFFERED="1",
               TMPDIR=str(tmp_path))
    cmd = [sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider", "--stack", "local",
           "--submission", str(ROOT / "solutions"), "--grade-json", str(out_json)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    seen: dict[int, tuple[float, str]] = {}
    try:
        deadline = time.monotonic() + 240
        while not any("checks/test_step2" in line for line in list(lines)):
            assert proc.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "no step2 progress line:\n" + "".join(lines)[-3000:]
            for child in psutil.Process(proc.pid).children(recursive=True):
                try:
                    seen.setdefault(child.pid, (child.create_time(), " ".join(child.cmdline())))
                except psutil.Error:
                    pass
            time.sleep(0.2)
        services = [cmd for _, cmd in seen.values()]
        short = "\n".join(c[:50].replace("\n", " ") + " … " + c[-50:].replace("\n", " ") for c in services)
        assert any("mariadbd" in c or "mysqld" in c for c in services), short
        assert any("minio" in c for c in services), short
        assert any("mlflow" in c and "server" in c for c in services), short
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        else:
            os.kill(proc.pid, getattr(signal, how))
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("pytest did not exit within 60 s of Ctrl-C:\n" + "".join(lines)[-3000:])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=5)
    output = "".join(lines)
    deadline = time.monotonic() + 10  # SIGKILL: the guard needs a moment
    while time.monotonic() < deadline and any(not _gone(pid, ct) for pid, (ct, _) in seen.items()):
        time.sleep(0.2)
    left = {pid: cmd for pid, (ct, cmd) in seen.items() if not _gone(pid, ct)}
    # Also what the sampling above may have missed (a script's box started just before the signal): every
    # process of this grading names this test's TMPDIR in its command line (sandbox, relay, services).
    while time.monotonic() < deadline and _naming(tmp_path):
        time.sleep(0.2)
    left.update(_naming(tmp_path))
    assert not left, f"still running after {how}: {left}"
    while time.monotonic() < deadline and list(tmp_path.glob("handson-*")):
        time.sleep(0.2)
    assert list(tmp_path.glob("handson-*")) == [], "temp folders left behind"
    if how == "SIGKILL":
        return
    assert out_json.is_file(), "results so far were not written on Ctrl-C:\n" + output[-3000:]
    report = json.loads(out_json.read_text())
    kept = {t["extra_data"]["check"]: t["extra_data"]["status"] for t in report["tests"]}
    assert {c: kept.get(c) for c in STEP1_CHECKS} == {c: "passed" for c in STEP1_CHECKS}, output[-3000:]


def _naming(folder: Path) -> dict[int, str]:
    """Live processes whose command line names ``folder``."""
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if str(folder) in cmd and proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE:
                found[proc.pid] = cmd[:160]
        except psutil.Error:
            continue
    return found


# -- 6. A port taken over ------------------------------------------------------------------------------
def test_a_restart_is_good_only_when_the_service_itself_holds_its_port(tmp_path):
    """Another process bound the port first (a script, while the service restarted): the service is not
    called ready although something answers there; the service's own listener is."""
    from grader.stack.base import ServiceProcess, StackError

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    port = squatter.getsockname()[1]
    idle = ServiceProcess("idle", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "idle.log",
                          port=port).start()
    try:
        with pytest.raises(StackError, match="not ready after 2 s"):
            idle.wait_ready(lambda: True, timeout=2, what="answers")
    finally:
        idle.stop(timeout=1)
        squatter.close()
    code = (f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(1); "
            "time.sleep(60)")
    owner = ServiceProcess("owner", [sys.executable, "-c", code], tmp_path / "owner.log", port=port).start()
    try:
        owner.wait_ready(lambda: True, timeout=20, what="answers")
        assert owner.holds_port()
    finally:
        owner.stop(timeout=1)


def test_a_service_is_started_only_from_a_thread_that_outlives_it(tmp_path):
    """The parent-death signal follows the starting thread: a helper thread may not start a service (it would
    be killed when the thread ends); the main thread and a thread marked as outliving its services may."""
    from grader.stack.base import outlives_services

    checked = threading.Event()

    def start(name: str, found: dict, stay: bool = False) -> None:
        try:
            found["service"] = ServiceProcess(name, [sys.executable, "-c", "import time; time.sleep(60)"],
                                              tmp_path / f"{name}.log").start()
        except RuntimeError as e:
            found["error"] = str(e)
        if stay:  # as the watchdog does: the thread lives as long as what it started
            checked.wait(30)

    plain: dict = {}
    helper = threading.Thread(target=start, args=("plain", plain), name="helper")
    helper.start()
    helper.join()
    assert "service" not in plain and "plain would be started from thread 'helper'" in plain["error"]
    marked: dict = {}
    keeper = outlives_services(threading.Thread(target=start, args=("marked", marked, True)))
    keeper.start()
    main: dict = {}
    start("main", main)
    try:
        deadline = time.monotonic() + 10
        while "service" not in marked and "error" not in marked and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # long enough for a parent-death signal to have come, had one been sent
        assert "error" not in marked and marked["service"].alive()
        assert "error" not in main and main["service"].alive()
    finally:
        checked.set()
        keeper.join()
        for found in (marked, main):
            if "service" in found:
                found["service"].stop(timeout=1)


def test_no_credentials_go_to_a_server_that_is_not_the_stacks_own(tmp_path):
    """Where the stack's MLflow runs as a service user of its own, the grader sends its admin login only to a
    listener running as that user; a stranger on the port gets nothing."""
    from conftest import fake_stack_info
    from grader.stack.auth import create_user
    from grader.stack.base import StackError

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(4)
    squatter.settimeout(0.5)
    port = squatter.getsockname()[1]
    info = dataclasses.replace(fake_stack_info(), tracking_uri=f"http://127.0.0.1:{port}", admin_user="admin",
                               admin_password="admin-secret-123", service_uids={"mlflow": os.getuid() + 4242})
    try:
        with pytest.raises(StackError, match="sent it no credentials"):
            create_user(info, "learner", "pw-123456")
        with pytest.raises(socket.timeout):
            squatter.accept()
    finally:
        squatter.close()


def test_the_events_file_is_read_while_the_watchdog_writes_it(tmp_path):
    """A running script's grader looks at the watchdog's events every second (to stop a script whose stack
    went through an outage): the line being written at that moment is left for the next look, never an error."""
    from grader.stack import watchdog

    path = tmp_path / "events.jsonl"
    done = {"time": 1.0, "service": "mysql", "cause": "exited with code 1", "restarted": True, "seconds": 2.5}
    path.write_text(json.dumps(done) + "\n" + '{"time": 2.0, "service": "min', encoding="utf-8")
    assert watchdog.events(path) == [done]
    assert watchdog.generation(path) == 1
    assert watchdog.events(tmp_path / "none.jsonl") == [] and watchdog.generation(None) == 0
