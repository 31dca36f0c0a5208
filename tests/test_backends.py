"""The stack backends' one interface and one registry: every backend implements ``StackBackend``, and every
list of backend names the command lines show is the registry's. Nothing here starts a stack."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from conftest import ROOT
from grader.stack import BACKENDS, REGISTRY, STARTABLE, StackBackend, StackInfo, make_backend


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}


def _choices(text: str, option: str) -> tuple[str, ...]:
    """The ``{a,b,c}`` argparse shows after ``option`` in a help text."""
    found = re.search(re.escape(option) + r"[= ]\{([^}]*)\}", text)
    assert found, f"{option} with choices not in:\n{text}"
    return tuple(found.group(1).split(","))


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_backend_is_a_stack_backend(name):
    """Built from the registry with no options, a backend satisfies the Protocol, answers to its registry
    name, returns StackInfo from start() and changed nothing in this process's environment."""
    before = dict(os.environ)
    backend = make_backend(name)
    assert dict(os.environ) == before, f"building the {name} backend changed os.environ"
    assert isinstance(backend, StackBackend), f"{type(backend).__name__} lacks start/stop/name"
    assert backend.name == name
    hints = typing.get_type_hints(type(backend).start)
    assert hints.get("return") is StackInfo, f"{type(backend).__name__}.start() -> {hints.get('return')}"
    assert typing.get_type_hints(type(backend).stop).get("return") is type(None)


def test_the_registry_holds_every_backend_once_and_auto_is_no_backend():
    assert BACKENDS == ("auto", *REGISTRY)
    assert "auto" not in REGISTRY
    assert set(STARTABLE) <= set(REGISTRY) and "external" not in STARTABLE
    with pytest.raises(ValueError, match="unknown stack backend 'auto'"):
        make_backend("auto")
    with pytest.raises(ValueError, match="choose one of docker, local, embedded, external"):
        make_backend("kubernetes")


def test_pytest_help_offers_the_registered_backends():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=ROOT, env=_clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _choices(proc.stdout, "--stack") == BACKENDS


def test_stack_up_help_offers_the_backends_that_start_a_stack():
    proc = subprocess.run([sys.executable, "-m", "grader", "--lang", "en", "stack", "up", "--help"], cwd=ROOT,
                          env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _choices(proc.stdout, "--backend") == STARTABLE == ("docker", "local", "embedded")


def test_practice_grade_help_offers_the_same_stacks_as_pytest():
    proc = subprocess.run([sys.executable, "-m", "grader", "practice", "grade", "--help"], cwd=ROOT,
                          env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _choices(proc.stdout, "--stack") == BACKENDS


def test_no_recorded_stack_names_the_backends_that_start_one(tmp_path, monkeypatch):
    from grader.i18n import set_lang
    from grader.stack.base import StackError
    from grader.stack.external import ExternalStack

    monkeypatch.setenv("HANDSON_STACK_FILE", str(tmp_path / "none.json"))
    monkeypatch.delenv("HANDSON_TRACKING_URI", raising=False)
    monkeypatch.setattr("grader.stack.external.compose_stack", lambda: None)
    set_lang("en")
    with pytest.raises(StackError) as raised:
        ExternalStack().start()
    assert "--stack docker/local/embedded" in raised.value.describe()


# -- the docker backend's compose commands: the stack's ports and passwords travel in env=, nowhere else ----
def test_compose_env_adds_the_stack_variables_to_a_copy():
    from grader.stack import docker

    base = {"PATH": "/usr/bin", "HANDSON_MLFLOW_PORT": "5000"}
    env = docker.compose_env({"mlflow": 5123, "mysql": 3399}, {"HANDSON_DB_PASSWORD": "s3cret"}, base=base)
    assert env == {"PATH": "/usr/bin", "HANDSON_MLFLOW_PORT": "5123", "HANDSON_MYSQL_PORT": "3399",
                   "HANDSON_DB_PASSWORD": "s3cret"}
    assert base == {"PATH": "/usr/bin", "HANDSON_MLFLOW_PORT": "5000"}


def test_docker_stack_leaves_the_grader_environment_alone(monkeypatch):
    """Building the stack and running its compose commands (faked: no Docker needed) changes nothing in
    os.environ; each command gets the stack's ports and fresh accounts through env=, none on its command line."""
    from grader.stack import docker

    monkeypatch.setenv("HANDSON_MLFLOW_PORT", "5000")  # a learner's own setting: this stack's port wins for it
    before = dict(os.environ)
    stack = docker.DockerStack(ports={"mysql": 3399}, compose_files=[docker.COMPOSE_FILE])
    calls = []

    def fake_run(argv, **kwargs):
        calls.append((argv, kwargs))
        return subprocess.CompletedProcess(argv, 0, b"[]" if "ps" in argv else b"", None)

    monkeypatch.setattr(docker.subprocess, "run", fake_run)
    stack._bad_services()
    stack._logs("mlflow")
    stack.stop()
    assert dict(os.environ) == before
    assert [argv[argv.index("-p") + 2] for argv, _ in calls] == ["ps", "logs", "down"]
    wanted = {"HANDSON_MLFLOW_PORT": str(stack.ports["mlflow"]), "HANDSON_MYSQL_PORT": "3399",
              "HANDSON_MINIO_PORT": str(stack.ports["minio"]), **stack.secrets}
    for argv, kwargs in calls:
        assert argv[:2] == ["docker", "compose"] and argv[argv.index("-p") + 1] == stack.project, argv
        assert argv[argv.index("-f") + 1] == str(docker.COMPOSE_FILE), argv
        env = kwargs["env"]
        assert {k: env.get(k) for k in wanted} == wanted
        assert env["PATH"] == os.environ["PATH"]  # the Docker CLI still finds what it needs
        assert not any(secret in " ".join(argv) for secret in stack.secrets.values()), argv
    assert not any(value in os.environ.values() for value in stack.secrets.values())


def test_a_failed_compose_command_carries_its_output(monkeypatch):
    from grader.stack import docker

    compose = docker.Compose([docker.COMPOSE_FILE], "handsontest", {"PATH": os.environ["PATH"]})
    monkeypatch.setattr(docker.subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(
        argv, 1, b"Error: 127.0.0.1:5000: bind: address already in use\n", None))
    with pytest.raises(docker.ComposeError) as raised:
        compose.execute("up", "--wait")
    assert raised.value.code == 1 and "address already in use" in str(raised.value)
    assert "docker compose -f" in str(raised.value) and "-p handsontest up --wait" in str(raised.value)


@pytest.mark.parametrize("xdg", [None, "", "/somewhere/cache"])
def test_the_stack_file_and_the_datadir_template_share_the_xdg_cache_folder(xdg, monkeypatch, tmp_path):
    from grader.stack import external
    from grader.stack.base import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HANDSON_STACK_FILE", raising=False)
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    # An empty XDG_CACHE_HOME counts as unset (XDG spec), not as the current folder.
    expected = (tmp_path / ".cache" if not xdg else Path(xdg)) / "mlflow-handson"
    assert cache_dir() == expected
    assert external.stack_file() == expected / "stack.json"
