"""The parts a grading run is built from, each on its own and without a stack: the names handed to scripts
(grader/naming.py), the ledger of script results shared by processes (grader/ledger.py), and the learners'
MLflow users (grader/accounts.py); and that GradingSession and the practice drills use them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, fake_stack_info
from grader.accounts import Accounts
from grader.ledger import Ledger
from grader.naming import Naming, PracticeNaming
from grader.runner import ScriptResult

KEY = bytes(range(16))
RUN_ID = "1130-070000-abcd"


# -- naming -------------------------------------------------------------------------------------------------
def test_names_are_a_function_of_run_id_and_key_and_kept_as_before():
    """The same (run id, key) gives the same names in every process; the values are those the session handed
    out before the names had a module of their own (reports and stacks of a running class stay readable)."""
    names, again = Naming(RUN_ID, KEY), Naming(RUN_ID, bytes(KEY))
    for made in (names, again):
        assert made.prefix == "handson-1130-070000-abcd-"
        assert made.experiment("alice", "step2") == "handson-1130-070000-abcd-alice-step2-61b02e03129b"
        assert made.experiment("alice", "step2", 1) == "handson-1130-070000-abcd-alice-step2-r1-3864a32697e1"
        assert made.model("alice") == "handson-1130-070000-abcd-model-alice-7173811c3e2f"
        assert made.model("alice", 2) == "handson-1130-070000-abcd-model-alice-r2-f81dd036b777"
        assert made.user("alice") == "alice-8541ba"
        assert made.user("山田") == "learner-dab491"  # ASCII only: basic-auth headers


def test_names_differ_across_learners_steps_attempts_and_runs():
    names = Naming(RUN_ID, KEY)
    experiments = {names.experiment(learner, step, attempt)
                   for learner in ("alice", "bob") for step in ("step1", "step2") for attempt in (0, 1, 2)}
    assert len(experiments) == 2 * 2 * 3
    models = {names.model(learner, attempt) for learner in ("alice", "bob") for attempt in (0, 1, 2)}
    assert len(models) == 2 * 3
    assert names.user("alice") != names.user("bob")
    assert all(name.startswith(names.prefix) for name in experiments | models)
    # Another key (another grading run's secret) changes the secret part of every name: none can be guessed.
    other = Naming(RUN_ID, bytes(16))
    assert names.experiment("alice", "step1") != other.experiment("alice", "step1")
    assert names.experiment("alice", "step1").rsplit("-", 1)[0] == other.experiment("alice", "step1").rsplit("-", 1)[0]
    assert names.model("alice") != other.model("alice") and names.user("alice") != other.user("alice")
    assert Naming.new().key != Naming.new().key


def test_a_worker_rebuilds_the_controllers_names_from_workerinput(tmp_path):
    from grader.config import GraderConfig
    from grader.session import GradingSession, Learner

    cfg = GraderConfig(rootdir=ROOT, submission=ROOT / "exercises", submissions=None, stack="local",
                       submission_timeout=60, stack_timeout=60, lang="en", grade_json=None, gradebook=None,
                       shard=None, ports={}, debug=False, sandbox="none")
    controller = GradingSession(cfg)
    handed = json.loads(json.dumps(controller.names.workerinput()))  # as execnet carries it
    assert set(handed) == {"handson_run_id", "handson_name_key"}
    worker = GradingSession(cfg, {**handed, "handson_workdir": str(tmp_path), "handson_backend": ["local", "test"]})
    learner = Learner("alice", ROOT / "exercises")
    assert worker.run_id == controller.run_id and worker.name_prefix == controller.name_prefix
    assert worker.experiment_name(learner, "step3", 1) == controller.experiment_name(learner, "step3", 1)
    assert worker.model_name(learner) == controller.model_name(learner)


def test_practice_names_are_fresh_per_attempt_and_keep_their_form():
    names = PracticeNaming("resume_run", token="0123456789ab")
    assert names.experiment("practice", "resume_run") == "practice-resume_run-0123456789ab"
    assert names.model("practice") == "practice-resume_run-model-0123456789ab"
    assert names.user("practice") == "practice-0123456789ab"
    assert names.prefix == "practice-"
    assert PracticeNaming("resume_run").token != PracticeNaming("resume_run").token


# -- the ledger ---------------------------------------------------------------------------------------------
def test_the_result_files_path_is_built_in_one_place():
    """Only ledger.path_for knows a result file's name (and its marker's); everything else asks the ledger.
    Learners' users are recorded by grader/accounts.py alone."""
    ledger = Ledger(Path("/w"))
    assert ledger.path_for("alice", "step1") == Path("/w/alice.step1.json")
    patterns = {
        "ledger.py": re.compile(r"""\}\.\{step\}|\.step\*\.json|["']\.started["']|\.json\.lock"""),
        "accounts.py": re.compile(r"""\.user\.json"""),
    }
    for owner, pattern in patterns.items():
        found = [str(p.relative_to(ROOT)) for p in (ROOT / "grader").rglob("*.py")
                 if p.name != owner and pattern.search(p.read_text(encoding="utf-8"))]
        assert not found, (owner, found)
        assert pattern.search((ROOT / "grader" / owner).read_text(encoding="utf-8")), owner


_WORKER = """
import sys, time
from pathlib import Path
from grader.ledger import Ledger
from grader.runner import ScriptResult

folder, name, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)

def run():
    (folder / ("ran-" + name)).touch()
    if name == "dies":
        import os
        os._exit(9)  # a script that takes its worker down with it
    time.sleep(1.0)  # the other process asks meanwhile, and must wait for this result
    return ScriptResult(script="step1.py", exists=True, returncode=0, output="run by " + name)

print(Ledger(folder).result("alice", "step1", Path("step1.py"), run).output)
"""


def _workers(folder: Path, names: list[str]) -> list[subprocess.Popen]:
    go = folder / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(folder), name, str(go)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    time.sleep(0.5)  # both are waiting for the go
    go.touch()
    return procs


def test_a_result_written_by_one_process_is_read_by_another(tmp_path):
    """Two processes (two xdist workers) ask for one step at once: one runs the script, the other waits on the
    file lock and reads that result; the script ran once."""
    outputs = []
    for proc in _workers(tmp_path, ["first", "second"]):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    ran = sorted(p.name for p in tmp_path.glob("ran-*"))
    assert len(ran) == 1, ran
    assert outputs == [f"run by {ran[0][len('ran-'):]}"] * 2
    assert Ledger(tmp_path).has("alice", "step1") and not Ledger(tmp_path).has("alice", "step2")
    read = Ledger(tmp_path).result("alice", "step1", Path("step1.py"), lambda: pytest.fail("ran again"))
    assert read.output == outputs[0] and read.ok


def test_a_script_that_took_its_worker_down_is_never_run_again(tmp_path):
    (proc,) = _workers(tmp_path, ["dies"])
    proc.communicate(timeout=120)
    assert proc.returncode == 9
    lost = Ledger(tmp_path).result("alice", "step1", Path("sub/step1.py"), lambda: pytest.fail("ran again"))
    assert lost.worker_lost and lost.script == "sub/step1.py" and not lost.ok
    assert Ledger(tmp_path).result("alice", "step1", Path("x"), lambda: pytest.fail("ran again")) == lost


def test_a_run_that_raised_records_nothing_and_runs_again(tmp_path):
    """The stack failing before or while a script ran is no worker lost: the next ask runs the script."""
    ledger = Ledger(tmp_path)

    def stack_failed():
        raise RuntimeError("mlflow stopped answering")

    with pytest.raises(RuntimeError):
        ledger.result("alice", "step1", Path("step1.py"), stack_failed)
    assert not ledger.has("alice", "step1")
    done = ledger.result("alice", "step1", Path("step1.py"),
                         lambda: ScriptResult(script="step1.py", exists=True, returncode=0, attempt=1))
    assert done.ok and not done.worker_lost and done.attempt == 1


def test_recorded_reads_each_steps_record_of_that_learner_only(tmp_path):
    """A learner id may hold dots: ``a``'s records are never confused with ``a.step9``'s."""
    ledger = Ledger(tmp_path)
    for learner, step in (("a", "step1"), ("a", "step3"), ("a.step9", "step1")):
        ledger.result(learner, step, Path("s.py"), lambda step=step: ScriptResult(
            script="s.py", exists=True, returncode=0, outages=[{"time": 1.0, "service": step}]))
    ledger.path_for("a", "step4").write_text("{broken")
    found = ledger.recorded("a", ["step1", "step2", "step3", "step4"])
    assert {step: r["outages"][0]["service"] for step, r in found.items()} == {"step1": "step1", "step3": "step3"}


def _worker_session(tmp_path):
    """A worker's GradingSession of the local backend, handed the controller's names (no stack started)."""
    from grader.config import GraderConfig
    from grader.session import GradingSession

    cfg = GraderConfig(rootdir=ROOT, submission=ROOT / "exercises", submissions=None, stack="local",
                       submission_timeout=60, stack_timeout=60, lang="en", grade_json=None, gradebook=None,
                       shard=None, ports={}, debug=False, sandbox="none")
    return GradingSession(cfg, {**Naming(RUN_ID, KEY).workerinput(), "handson_workdir": str(tmp_path),
                                "handson_backend": ["local", "test"]})


def test_the_session_reads_the_ledger_it_delegates_to(tmp_path):
    from grader.session import Learner

    grading = _worker_session(tmp_path)
    learner = Learner("alice", ROOT / "exercises")
    assert not grading.has_result(learner, "step2")
    result = ScriptResult(script="step2.py", exists=True, returncode=1, output="boom")
    grading.ledger.path_for("alice", "step2").write_text(json.dumps(result.to_dict()))
    assert grading.has_result(learner, "step2")
    assert grading.script_result(learner, "step2") == result  # read, never run: no stack was started


# -- accounts -----------------------------------------------------------------------------------------------
@pytest.fixture
def created(monkeypatch):
    made = []
    monkeypatch.setattr("grader.stack.auth.create_user", lambda info, user, password: made.append((user, password)))
    return made


def _with_access_control():
    import dataclasses

    return dataclasses.replace(fake_stack_info(), admin_user="admin", admin_password="adminpw12345")


def test_accounts_create_one_user_per_learner_whichever_worker_asks(tmp_path, created):
    info, names = _with_access_control(), Naming(RUN_ID, KEY)
    worker_a, worker_b = Accounts(names, tmp_path), Accounts(Naming(RUN_ID, KEY), tmp_path)
    alice = worker_a.credentials(info, "alice")
    assert worker_a.credentials(info, "alice") == alice == worker_b.credentials(info, "alice")
    bob = worker_b.credentials(info, "bob")
    assert created == [alice, bob]
    assert alice[0] == names.user("alice") and bob[0] == names.user("bob") and alice[1] != bob[1]
    assert len(alice[1]) >= 24  # a random token: the server's guard checks those cheaply


def test_a_stack_without_access_control_has_no_users(tmp_path, created):
    assert Accounts(Naming(RUN_ID, KEY), tmp_path).credentials(fake_stack_info(), "alice") is None
    assert Accounts(PracticeNaming("resume_run")).credentials(fake_stack_info(), "practice") is None
    assert created == [] and not list(tmp_path.iterdir())


def test_a_practice_attempt_gets_its_own_user_kept_in_memory(created):
    names = PracticeNaming("resume_run", token="0123456789ab")
    accounts = Accounts(names)
    first = accounts.credentials(_with_access_control(), "practice")
    assert accounts.credentials(_with_access_control(), "practice") == first
    assert created == [first] and first[0] == "practice-0123456789ab"


def test_practice_grading_uses_the_shared_parts():
    """The drills run scripts and create users through the same parts as the steps, not copies of them."""
    source = (ROOT / "grader/practice/grading.py").read_text(encoding="utf-8")
    assert "run_attempt(" in source and "Accounts(" in source and "PracticeNaming(" in source
    assert "run_script(" not in source and "create_user" not in source and "token_hex" not in source


def test_a_running_script_is_stopped_only_for_an_outage_that_began_during_it(tmp_path):
    """The session stops a running script when the watchdog acts while it runs (``_run``'s ``stop_when``): a
    failed restart on any attempt, a restart on all but the last. A long-lived stack (``stack up``) may carry an
    old failure it has healed from since: that stops nothing."""
    import dataclasses

    from conftest import fake_stack_info

    grading = _worker_session(tmp_path)
    events = tmp_path / "events.jsonl"
    grading._info = dataclasses.replace(fake_stack_info(), events_file=str(events))

    def add(restarted: bool) -> None:
        with events.open("a") as f:
            f.write(json.dumps({"time": 1.0, "service": "mysql", "cause": "exited", "restarted": restarted}) + "\n")

    add(False)  # long ago: the stack healed since
    before = grading.generation()
    assert not grading._outage_since(before, last=False) and not grading._outage_since(before, last=True)
    add(True)
    assert grading._outage_since(before, last=False)  # it runs again under fresh names
    assert not grading._outage_since(before, last=True)  # the last attempt's result stands
    add(False)
    assert grading._outage_since(before, last=True)  # failed for good: the stack's failure is reported
