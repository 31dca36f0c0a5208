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


# -- the docker backend's compose commands: the stack's ports and passwords travel in an env file ------------------
def test_compose_variables_are_the_stack_ports_and_accounts(tmp_path):
    from grader.stack import docker

    variables = docker.compose_variables({"mlflow": 5123, "mysql": 3399}, {"HANDSON_DB_PASSWORD": "s3cret"})
    assert variables == {"HANDSON_MLFLOW_PORT": "5123", "HANDSON_MYSQL_PORT": "3399", "HANDSON_DB_PASSWORD": "s3cret"}
    path = docker.write_env_file(tmp_path, variables)
    assert path.read_text() == "HANDSON_MLFLOW_PORT=5123\nHANDSON_MYSQL_PORT=3399\nHANDSON_DB_PASSWORD=s3cret\n"
    assert path.stat().st_mode & 0o777 == 0o600


def test_docker_stack_leaves_the_grader_environment_alone(monkeypatch):
    """Building the stack and running its compose commands through pytest-docker (faked: no Docker needed)
    changes nothing in os.environ; each command reads the stack's ports and fresh accounts from the env file,
    none is on its command line, and the file goes at stop."""
    import pytest_docker.plugin

    from grader.stack import docker

    monkeypatch.setenv("HANDSON_MLFLOW_PORT", "5000")  # a learner's own setting: this stack's port wins for it
    before = dict(os.environ)
    stack = docker.DockerStack(ports={"mysql": 3399}, compose_files=[docker.COMPOSE_FILE])
    assert stack.compose is None and stack.private is None  # building it starts and writes nothing
    stack.stop()  # never started: nothing to do
    stack._prepare()
    calls = []

    def fake_check_output(command, **kwargs):
        calls.append(command)
        return b"[]" if " ps " in command else b""

    monkeypatch.setattr(pytest_docker.plugin.subprocess, "check_output", fake_check_output)
    stack._bad_services()
    stack._logs("mlflow")
    env_file = stack.env_file
    assert dict(line.split("=", 1) for line in env_file.read_text().splitlines()) == {
        "HANDSON_MLFLOW_PORT": str(stack.ports["mlflow"]), "HANDSON_MYSQL_PORT": "3399",
        "HANDSON_MINIO_PORT": str(stack.ports["minio"]), "HANDSON_MINIO_CONSOLE_PORT": str(stack.ports["minio-console"]),
        **stack.secrets}
    stack.stop()
    assert dict(os.environ) == before
    assert [c.split(f"-p \"{stack.project}\" ", 1)[1].split()[0] for c in calls] == ["ps", "logs", "down"]
    for command in calls:
        assert command.startswith(f"docker compose --env-file {env_file} -f \"{docker.COMPOSE_FILE}\""), command
        assert not any(secret in command for secret in stack.secrets.values()), command
    assert not env_file.exists() and not stack.private.exists()
    assert not any(value in os.environ.values() for value in stack.secrets.values())


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
