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
