"""The parts a grading run is built from, each on its own and without a stack: the names handed to scripts
(grader/naming.py); and that GradingSession uses them."""

from __future__ import annotations

import json

from conftest import ROOT
from grader.naming import Naming

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
