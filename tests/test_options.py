"""Bad command-line input gets one clear line, never a traceback (no stack is started for these)."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT


def run_pytest(*args, env=None):
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_")}
    run_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          env=run_env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("args, env, says", [
    (["--submission=/nonexistent/learner"], None, "--submission /nonexistent/learner: no such folder"),
    (["--submissions=/nonexistent/class"], None, "--submissions /nonexistent/class: no such folder"),
    (["--shard=3/2", "--submissions=exercises/.."], None, "--shard 3/2: i must be between 1 and N"),
    ([], {"HANDSON_STACK": "kubernetes"}, "stack backend 'kubernetes' is not one of"),
])
def test_bad_input_is_one_clear_line(args, env, says):
    code, output = run_pytest(*args, env=env)
    assert code == 4, output  # pytest's usage error
    assert says in output, output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output


def test_empty_class_folder(tmp_path):
    code, output = run_pytest(f"--submissions={tmp_path}")
    assert code == 4 and "no learner folders in it" in output, output


def test_folder_outside_the_repo_without_equals_sign_is_explained(tmp_path):
    (tmp_path / "alice").mkdir()
    code, output = run_pytest("--submissions", str(tmp_path))
    assert code != 0
    assert "--submissions=DIR" in output and "Traceback" not in output, output


@pytest.mark.slow  # pytest twice in a subprocess (about 4 s)
def test_rootdir_error_is_told_in_the_chosen_language(tmp_path):
    """It is raised before the rest of the configuration is read, yet --lang (or HANDSON_LANG) applies."""
    (tmp_path / "alice").mkdir()
    code, output = run_pytest("--lang=ja", "--submissions", str(tmp_path))
    assert code != 0 and "checks/ フォルダのない" in output and "Traceback" not in output, output
    code, output = run_pytest("--submissions", str(tmp_path), env={"HANDSON_LANG": "ja"})
    assert code != 0 and "checks/ フォルダのない" in output, output
