"""The stack backends' one interface and one registry: every backend implements ``StackBackend``, and every
list of backend names the command lines show is the registry's. Nothing here starts a stack."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing

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
    name and returns StackInfo from start()."""
    backend = make_backend(name)
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

