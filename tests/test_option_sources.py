"""Each value lives in one place: an option pytest and ``python -m grader`` both take is defined once
(grader/options.py), its default once (grader/config.py), and what the help shows is what applies.
These tests fail when a second definition creeps back in and the two drift apart. No stack is started."""

import argparse
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from grader import config, i18n, options
from grader.messages import MESSAGES


class _Recorder:
    """Stands in for pytest's parser and option group: keeps what ``pytest_addoption`` registers."""

    def __init__(self):
        self.options: dict[str, tuple[tuple, dict]] = {}
        self.ini: dict[str, tuple] = {}

    def getgroup(self, *_args, **_kwargs):
        return self

    def addoption(self, *flags, **keywords):
        self.options[flags[0]] = (flags, keywords)

    def addini(self, name, *args, **keywords):
        self.ini[name] = (args, keywords)


def pytest_options() -> dict[str, tuple[tuple, dict]]:
    from grader import plugin

    recorder = _Recorder()
    plugin.pytest_addoption(recorder)
    return recorder.options


def cli_parsers(lang: str = "en") -> dict[str, argparse.ArgumentParser]:
    """``python -m grader``'s parser and every sub-command's, by command line (``"stack up"``)."""
    from grader.__main__ import build_parser

    i18n.set_lang(lang)
    try:
        root = build_parser()
    finally:
        i18n.set_lang("en")
    found = {"": root}

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found[f"{prefix}{name}".strip()] = child
                    walk(child, f"{prefix}{name} ")

    walk(root, "")
    return found


def cli_options(lang: str = "en") -> dict[str, dict[str, argparse.Action]]:
    """command -> option string -> its argparse action."""
    return {command: {flag: action for action in parser._actions for flag in action.option_strings}
            for command, parser in cli_parsers(lang).items()}


def described(action: argparse.Action) -> dict:
    return {"type": action.type, "choices": tuple(action.choices) if action.choices else None,
            "metavar": action.metavar, "help": action.help, "append": isinstance(action, argparse._AppendAction)}


def described_pytest(keywords: dict) -> dict:
    return {"type": keywords.get("type"), "choices": tuple(keywords["choices"]) if keywords.get("choices") else None,
            "metavar": keywords.get("metavar"), "help": keywords.get("help"),
            "append": keywords.get("action") == "append"}


# Options of a `python -m grader` command named as a pytest option that mean something else there: merge writes the
# merged results folder, classroom's --roster is a file in the repository for the workflow, and so on.
OWN_MEANING = {("merge", "--grade-json"), ("merge", "--html-report"), ("merge", "--submissions"),
               ("merge", "--learners"), ("practice grade", "--grade-json"), ("similarity", "--submissions"),
               ("similarity", "--html-report"), ("classroom", "--roster"), ("classroom", "--gradebook-format"),
               ("classroom", "--submission-timeout")}


def test_every_shared_option_has_a_help_text_in_both_languages():
    for option in options.SHARED.values():
        assert option.help_key in MESSAGES, option
        for lang in i18n.LANGS:
            assert option.help(lang).strip(), (option.flag, lang)
            assert "{" not in option.help(lang), (option.flag, lang, option.help(lang))  # every placeholder filled


def test_pytest_takes_every_shared_option_as_defined():
    registered = pytest_options()
    for option in options.SHARED.values():
        flags, keywords = registered[option.flag]
        assert flags == (option.flag,)
        assert keywords["default"] is None, option.flag  # grader/config.py applies ini > env > default after it
        assert described_pytest(keywords) == described_pytest(option.keywords("en", None)), option.flag


def test_the_command_line_and_pytest_agree_on_every_option_they_both_take():
    """Same name in pytest and in any ``python -m grader`` command: the same option, one definition. The
    exceptions are options that mean something else there (merge writes the merged results folder)."""
    registered = pytest_options()
    shared = {option.flag for option in options.SHARED.values()}
    seen = set()
    for command, actions in cli_options().items():
        for flag, action in actions.items():
            if flag not in registered or (command, flag) in OWN_MEANING:
                continue
            assert flag in shared, f"`python -m grader {command} {flag}` and `pytest {flag}` are defined apart"
            assert described(action) == described_pytest(registered[flag][1]), (command, flag)
            seen.add(flag)
    # Every shared option is taken by some command (else it belongs to the plugin alone).
    assert seen == shared, shared - seen


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_each_command_shows_the_shared_help_in_its_language(lang):
    for command, actions in cli_options(lang).items():
        for option in options.SHARED.values():
            if option.flag in actions and (command, option.flag) not in OWN_MEANING:
                assert actions[option.flag].help == option.help(lang), (command, option.flag)


def _shown_default(help_text: str, flag: str) -> str:
    """The ``(default: X)`` shown under the option line that starts with ``flag`` (help wraps over lines)."""
    lines = help_text.splitlines()
    first = next(i for i, line in enumerate(lines) if re.match(rf"\s+{re.escape(flag)}\b", line))
    block = [lines[first]]
    for line in lines[first + 1:]:
        if not line.strip() or re.match(r"\s{1,4}-", line):
            break
        block.append(line)
    found = re.search(r"\(default: ([^)]*)\)", " ".join(" ".join(block).split()))
    assert found, block
    return found.group(1)


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("HANDSON_") and k != "PYTEST_ADDOPTS"}


def test_the_defaults_shown_by_pytest_and_the_command_line_are_the_ones_that_apply(capsys):
    shown = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"], cwd=ROOT,
                           env=_clean_env(), capture_output=True, text=True, timeout=120).stdout
    assert _shown_default(shown, "--stack-timeout") == f"{config.STACK_TIMEOUT:g}"
    assert _shown_default(shown, "--submission-timeout") == f"{config.SUBMISSION_TIMEOUT:g}"
    assert _shown_default(shown, "--stack") == config.default("stack")
    for name in ("script_memory", "script_tmp", "script_file_size"):  # pytest's own, written "(default: 1G; …)"
        assert _shown_default(shown, "--" + name.replace("_", "-")).split(";")[0] == config.default(name), name
    from grader.__main__ import main

    for argv, flag, value in ((["stack", "up"], "--stack-timeout", config.STACK_TIMEOUT),
                              (["practice", "grade"], "--submission-timeout", config.SUBMISSION_TIMEOUT)):
        with pytest.raises(SystemExit):
            main(["--lang", "en", *argv, "--help"])
        assert _shown_default(capsys.readouterr().out, flag) == f"{value:g}", argv
    i18n.set_lang("en")


def test_stack_up_takes_the_stack_timeout_and_still_its_old_name():
    from grader.__main__ import build_parser

    parser = build_parser()
    assert parser.parse_args(["stack", "up"]).stack_timeout == config.STACK_TIMEOUT
    assert parser.parse_args(["stack", "up", "--stack-timeout", "7"]).stack_timeout == 7.0
    assert parser.parse_args(["stack", "up", "--timeout", "9"]).stack_timeout == 9.0
    assert parser.parse_args(["merge", "grades.csv"]).gradebook_format == config.GRADEBOOK_FORMAT


def test_config_applies_the_defaults_the_help_shows(monkeypatch):
    """No option, no ini value, no environment variable: the configuration holds the options' defaults."""
    for name in ("HANDSON_STACK_TIMEOUT", "HANDSON_SUBMISSION_TIMEOUT", "HANDSON_STACK", "HANDSON_SANDBOX"):
        monkeypatch.delenv(name, raising=False)

    class Bare:
        def getoption(self, _name):
            return None

        def getini(self, _name):
            return ""

    for name in ("stack_timeout", "submission_timeout", "stack", "sandbox"):
        assert config._setting(Bare(), name) == options.SHARED[name].default, name


def test_every_stack_backend_starts_with_the_stack_timeout_by_default():
    """Built without a timeout (bench/, tests), a backend waits as long as the grader's default says."""
    import grader.stack

    constructors = {}
    for module in pkgutil.walk_packages(grader.stack.__path__, "grader.stack."):
        if ".server_guard" in module.name:
            continue
        for _name, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if getattr(cls, "name", None) in options.STARTABLE and cls.__module__ == module.name:
                constructors[cls.name] = inspect.signature(cls).parameters["timeout"].default
    assert set(constructors) == set(options.STARTABLE), constructors
    assert set(constructors.values()) == {config.STACK_TIMEOUT}, constructors


def test_the_plugin_declares_the_check_marker_once():
    """The plugin declares ``check``; pytest.ini does not repeat it (two declarations drift apart)."""
    ini = (ROOT / "pytest.ini").read_text(encoding="utf-8")
    assert not re.search(r"^\s+check\(", ini, re.M), ini
    shown = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--markers"], cwd=ROOT,
                           env=_clean_env(), capture_output=True, text=True, timeout=120).stdout
    assert shown.count("@pytest.mark.check(id)") == 1, shown


def test_the_class_workflow_command_shows_the_defaults_it_writes(capsys):
    from grader import class_workflow
    from grader.__main__ import build_parser

    args = build_parser().parse_args(["classroom", "--class-workflow"])
    assert (args.shards, args.class_dir, args.submission_timeout) == (
        class_workflow.SHARDS, class_workflow.CLASS_DIR, class_workflow.SUBMISSION_TIMEOUT)
    text = build_parser()._subparsers._group_actions[0].choices["classroom"].format_help()
    flat = " ".join(text.split())
    assert f"default {class_workflow.SHARDS};" in flat and f"default {class_workflow.SUBMISSION_TIMEOUT})" in flat


def test_results_files_are_named_in_one_place(tmp_path):
    """The plugin writes, and merge and --previous read, ``<folder>/<learner>/results.json`` through report."""
    from grader import report

    path = report.results_path(tmp_path, "alice")
    assert path == tmp_path / "alice" / report.RESULTS_FILE
    path.parent.mkdir()
    path.write_text('{"tests": [], "extra_data": {"learner": "alice"}}', encoding="utf-8")
    assert set(report.results_files(tmp_path)) == {"alice"}
    literal = re.compile(r"""["']results\.json["']""")
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "grader").rglob("*.py")
             if p.name != "report.py" and literal.search(p.read_text(encoding="utf-8"))]
    assert not found, found


def test_the_command_line_builds_its_options_with_the_standard_library_only():
    """`python -m grader clone-class` runs on a bare Python (README): the shared option definitions it reads
    import nothing from outside the standard library (psutil, pytest, mlflow …)."""
    code = ("import sys; before = set(sys.modules); from grader.__main__ import build_parser; build_parser(); "
            "print('\\n'.join(sorted({n.split('.')[0] for n, m in list(sys.modules.items()) if n not in before "
            "and 'site-packages' in (getattr(m, '__file__', None) or '')})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [], proc.stdout


def test_commands_outside_pytest_read_the_same_environment_and_defaults(monkeypatch):
    """practice grade: its option, else the HANDSON_* variable pytest reads too, else the same default."""
    monkeypatch.delenv("HANDSON_STACK_TIMEOUT", raising=False)
    assert config.outside_pytest("stack_timeout") == config.STACK_TIMEOUT
    monkeypatch.setenv("HANDSON_STACK_TIMEOUT", "42")
    assert float(config.outside_pytest("stack_timeout")) == 42.0
    assert config.outside_pytest("stack_timeout", 7.0) == 7.0
