"""A warm interpreter runs a script exactly as ``python script`` does (grader/warm.py).

Each probe script runs twice in the same folder: cold (``python stepN.py``, stdin at end of file, as the
runner starts it) and warm (``python warm.py MODULES stepN.py``, then ``go``); exit status, stdout and stderr
must be equal. The probes cover what a script can observe of how it was started.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT

WARM = ROOT / "grader" / "warm.py"
# Light modules for most probes (the real list is MLflow's); `decimal` and `json` stand for "imported early".
LIGHT = "json,decimal,email.message"

PROBES = {
    "identity": """\
        import sys
        print(__name__, __file__, sys.argv, sys.path[0], __spec__, __package__, __cached__)
        print(type(__loader__).__name__, __loader__.name, __loader__.path)
        print(sorted(k for k in globals() if not k.startswith("__") or k in ("__doc__",)))
        if __name__ == "__main__":
            print("main block ran")
        """,
    "exception": """\
        def inner():
            return {}["missing"]

        def outer():
            inner()

        print("before")
        outer()
        """,
    "exit_code": """\
        import sys
        print("leaving")
        sys.exit(3)
        """,
    "exit_message": """\
        import sys
        sys.exit("it went wrong")
        """,
    "syntax_error": """\
        print("never")
        def broken(:
            pass
        """,
    "stdin": """\
        try:
            input()
        except EOFError as e:
            print("EOF", type(e).__name__)
        import sys
        print(repr(sys.stdin.read()))
        """,
    "pickle_main_class": """\
        import pickle

        class Point:
            def __init__(self, x):
                self.x = x

        data = pickle.dumps(Point(3))
        print(pickle.loads(data).x, type(pickle.loads(data)).__module__)
        """,
    "threads_and_atexit": """\
        import atexit, threading, time
        atexit.register(lambda: print("atexit ran", flush=True))

        def late():
            time.sleep(0.3)
            print("thread finished", flush=True)

        threading.Thread(target=late).start()
        raise RuntimeError("main failed first")
        """,
    "imports_warmed_module": """\
        import json, decimal, sys
        print(json.dumps({"a": 1}), decimal.Decimal("1.5") * 2, json.__name__, decimal.__file__ is not None)
        """,
    "stderr_and_stdout": """\
        import sys
        print("out 1")
        print("err 1", file=sys.stderr)
        sys.stdout.write("out 2 no newline")
        """,
}


def _run_both(folder: Path, name: str, modules: str = LIGHT, timeout: float = 120) -> tuple:
    cold = subprocess.run([sys.executable, name], cwd=folder, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
    warm = subprocess.run([sys.executable, str(WARM), modules, name], cwd=folder, input="go\n",
                          capture_output=True, text=True, timeout=timeout)
    return cold, warm


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_warm_run_is_a_cold_run(tmp_path, probe):
    script = tmp_path / "step1.py"
    script.write_text(textwrap.dedent(PROBES[probe]), encoding="utf-8")
    cold, warm = _run_both(tmp_path, "step1.py")
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_the_coding_cookie_is_the_scripts_own(tmp_path):
    (tmp_path / "step1.py").write_bytes("# -*- coding: latin-1 -*-\nprint(len('é'), 'é')\n".encode("latin-1"))
    cold, warm = _run_both(tmp_path, "step1.py")
    assert cold.returncode == 0 and (warm.returncode, warm.stdout) == (cold.returncode, cold.stdout)


def test_a_local_module_that_shadows_a_warmed_one_is_the_scripts(tmp_path):
    """The learner's own json.py wins by hand; warm must not hand them the standard one."""
    (tmp_path / "json.py").write_text("def dumps(x):\n    return 'the learner json'\n")
    (tmp_path / "step1.py").write_text("import json\nprint(json.dumps({}), json.__file__.endswith('json.py'))\n")
    cold, warm = _run_both(tmp_path, "step1.py")
    assert "the learner json" in cold.stdout
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_nothing_runs_before_go_and_closing_stdin_leaves_unused(tmp_path):
    (tmp_path / "step1.py").write_text("open('ran', 'w').close()\n")
    unused = subprocess.run([sys.executable, str(WARM), LIGHT, "step1.py"], cwd=tmp_path, input="",
                            capture_output=True, text=True, timeout=60)
    assert unused.returncode == 0 and not (tmp_path / "ran").exists()
    went = subprocess.run([sys.executable, str(WARM), LIGHT, "step1.py"], cwd=tmp_path, input="go\n",
                          capture_output=True, text=True, timeout=60)
    assert went.returncode == 0 and (tmp_path / "ran").exists(), went.stderr


def test_nothing_is_imported_from_the_scripts_folder_while_warming(tmp_path):
    """A learner file named like a module the warm list imports indirectly is not run early."""
    (tmp_path / "decimal.py").write_text("open('imported early', 'w').close()\n")
    (tmp_path / "step1.py").write_text("print('ok')\n")
    proc = subprocess.Popen([sys.executable, str(WARM), LIGHT, "step1.py"], cwd=tmp_path, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate("", timeout=60)  # never told go
    assert not (tmp_path / "imported early").exists()


@pytest.mark.slow
def test_mlflow_reads_what_the_script_set_before_importing_it(tmp_path):
    """The hands-on's one warm module list: MLflow imported early still sees the environment the script sets."""
    (tmp_path / "step1.py").write_text(textwrap.dedent("""\
        import os
        os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9/set-by-script"
        os.environ["MLFLOW_REGISTRY_URI"] = "http://127.0.0.1:9/registry-by-script"
        import mlflow
        print(mlflow.get_tracking_uri(), mlflow.get_registry_uri())
        """))
    cold, warm = _run_both(tmp_path, "step1.py", modules="mlflow", timeout=300)
    assert cold.returncode == 0, cold.stderr
    assert "set-by-script" in cold.stdout and "registry-by-script" in cold.stdout
    assert (warm.returncode, warm.stdout) == (cold.returncode, cold.stdout)


# -- the registered model's evaluation (checks step5.model_files), started ahead ------------------------------
class _Files:
    """The object store's one read that ``StepOutcome.model_rmse`` makes (``get``), from a saved model folder."""

    def __init__(self, prefix: str, folder: Path):
        self.prefix, self.folder = prefix, folder

    def get(self, key: str) -> bytes | None:
        path = self.folder / key.removeprefix(self.prefix + "/")
        return path.read_bytes() if path.is_file() else None


@pytest.mark.slow  # trains and saves a model with MLflow, then two sandboxed evaluations (about 15 s)
def test_the_model_evaluation_started_ahead_scores_as_a_cold_one(tmp_path):
    """The session starts the evaluation's sandbox while step 5 runs, importing MLflow and scikit-learn; the
    model's files arrive just before ``go``. It scores the model as a sandbox started at the check's turn does,
    and as the model scores here."""
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import SGDRegressor

    from conftest import fake_stack_info
    from grader import checking

    table = np.loadtxt(ROOT / "data" / "regression.csv", delimiter=",", skiprows=1)
    model = SGDRegressor(alpha=0.01, random_state=0).fit(table[:160, :3], table[:160, 3])
    expected = float(np.sqrt(np.mean((model.predict(table[160:, :3]) - table[160:, 3]) ** 2)))
    mlflow.sklearn.save_model(model, tmp_path / "saved")
    files = sorted(str(p.relative_to(tmp_path / "saved")) for p in (tmp_path / "saved").rglob("*") if p.is_file())
    assert "MLmodel" in files
    info = fake_stack_info()
    ahead = checking.start_evaluator(info, ROOT / "data", checking.EVALUATE_MODULES)
    taken = []
    scores = {}
    for label, evaluator in (("ahead", lambda: taken.append(ahead) or ahead), ("at its turn", None)):
        outcome = checking.StepOutcome(learner="l", step="step5", submission=tmp_path, data_dir=ROOT / "data",
                                       script=None, experiment_name="-", model_name="-", stack=info, db=None,
                                       objects=_Files("models/m", tmp_path / "saved"), evaluator=evaluator)
        scores[label] = outcome.model_rmse("models/m", files)
    assert taken == [ahead] and ahead.done, "the evaluation started ahead was not the one that ran"
    assert scores["ahead"] == scores["at its turn"], scores
    found, why = scores["ahead"]
    assert found is not None and abs(found - expected) < 1e-9, (found, why, expected)
