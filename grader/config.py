"""One frozen configuration, built once from the command line, pytest.ini and the environment.

Precedence: command-line option > ini value > environment variable > default (as in pytest-mysql).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from grader.i18n import t


@dataclasses.dataclass(frozen=True)
class GraderConfig:
    rootdir: Path
    submission: Path | None
    submissions: Path | None
    stack: str
    submission_timeout: float
    stack_timeout: float
    lang: str | None
    grade_json: Path | None
    gradebook: Path | None
    shard: tuple[int, int] | None
    ports: dict
    debug: bool
    sandbox: str = "auto"
    # Compose files for the docker backend, in `docker compose -f` order; empty: docker-compose.yml.
    compose_files: tuple[Path, ...] = ()
    # --html-report: a folder for per-learner pages and index.html (None: no HTML report)
    html_report: Path | None = None
    # --script-memory, --script-tmp, --script-file-size in bytes (0: no cap; see grader/limits.py)
    script_memory: int = 1 << 30
    script_tmp: int = 256 << 20
    script_file_size: int = 256 << 20
    # --gradebook-format: csv (the grader's own columns), canvas or moodle (grader/lms.py); --roster: the CSV
    # mapping submission folders to LMS identities
    gradebook_format: str = "csv"
    roster: Path | None = None
    # --previous: a gradebook CSV or results folder of an earlier run (previous/delta columns, what changed)
    previous: Path | None = None
    # --learners: grade only these learners of --submissions (folder names or learner ids)
    learners: tuple[str, ...] = ()
    # --no-warm (or HANDSON_NO_WARM=1): no script is started ahead of its turn (grader/warm.py)
    no_warm: bool = False

    def limits(self):
        """The caps every learner script runs under."""
        from grader.limits import Limits

        return Limits(memory=self.script_memory, fsize=self.script_file_size, tmp=self.script_tmp)

    @property
    def data_dir(self) -> Path:
        return self.rootdir / "data"


# The defaults that apply when neither the command line, the ini file nor the environment give a value; the
# stack backends' constructors and the help of pytest and `python -m grader` read them from here.
SUBMISSION_TIMEOUT = 60.0  # seconds a learner's script may run (the submission contract)
STACK_TIMEOUT = 180.0  # seconds each stack service may take to become ready
PORTS = ("mlflow", "mysql", "minio")  # the services with a fixed-port option: --mlflow-port, …
GRADEBOOK_FORMAT = "csv"  # the grader's own columns (grader/lms.py: the others)
# --sandbox: how learner scripts are isolated (grader/sandbox.py says what each means). Here, not there: the option
# is read by `python -m grader`, whose clone-class runs on a bare Python, without psutil which sandbox.py needs.
SANDBOX_MODES = ("auto", "bwrap", "user", "none")

# name -> (ini name, environment variable, default)
_SETTINGS = {
    "submission": ("handson_submission", "HANDSON_SUBMISSION", "exercises"),
    "stack": ("handson_stack", "HANDSON_STACK", "auto"),
    "submission_timeout": ("handson_submission_timeout", "HANDSON_SUBMISSION_TIMEOUT", SUBMISSION_TIMEOUT),
    "stack_timeout": ("handson_stack_timeout", "HANDSON_STACK_TIMEOUT", STACK_TIMEOUT),
    "lang": ("handson_lang", "HANDSON_LANG", None),
    "sandbox": ("handson_sandbox", "HANDSON_SANDBOX", "auto"),
    "script_memory": ("handson_script_memory", "HANDSON_SCRIPT_MEMORY", "1G"),
    "script_tmp": ("handson_script_tmp", "HANDSON_SCRIPT_TMP", "256M"),
    "script_file_size": ("handson_script_file_size", "HANDSON_SCRIPT_FILE_SIZE", "256M"),
}


def default(name: str):
    """The value of setting ``name`` when neither the command line, the ini file nor the environment give one."""
    return _SETTINGS[name][2]


def outside_pytest(name: str, given=None):
    """Setting ``name`` for a command that runs without pytest (no ini file): ``given`` (its command-line
    value), else the environment variable, else the default."""
    _ini_name, env_name, fallback = _SETTINGS[name]
    return given or os.environ.get(env_name) or fallback


def _size(config, name: str) -> int:
    from grader.limits import parse_size

    try:
        return parse_size(_setting(config, name))
    except ValueError as e:
        raise ValueError(f"--{name.replace('_', '-')}: {e}") from None


def _setting(config, name: str):
    cli = config.getoption(name)
    if cli is not None:
        return cli
    ini_name, env_name, default = _SETTINGS[name]
    ini = config.getini(ini_name)
    if ini:
        return ini
    return os.environ.get(env_name) or default


def language(config) -> str | None:
    """The language asked for (--lang, ini, HANDSON_LANG), or None to follow the locale; readable even when
    the rest of the configuration is not (the rootdir error is told in it)."""
    return _setting(config, "lang")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        index, total = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard takes i/N (for example 1/4), not {text!r}") from None
    if not 1 <= index <= total:
        raise ValueError(f"--shard {text}: i must be between 1 and N")
    return index, total


def _check_folder(option: str, path: Path | None) -> None:
    if path is not None and not path.is_dir():
        raise ValueError(f"{option} {path}: no such folder")


def compose_files(config, rootdir: Path, invocation: Path) -> tuple[Path, ...]:
    """--compose-file (repeatable; relative to where pytest ran), else the ini's handson_compose_files
    (relative to the rootdir), else HANDSON_COMPOSE_FILES (os.pathsep-separated; relative to where pytest ran)."""
    paths = [invocation / p for p in config.getoption("compose_file") or []]
    if not paths:
        paths = [rootdir / p for p in config.getini("handson_compose_files") or []]
    if not paths:
        paths = [invocation / p for p in os.environ.get("HANDSON_COMPOSE_FILES", "").split(os.pathsep) if p]
    for path in paths:
        if not path.is_file():
            raise ValueError(f"--compose-file {path}: no such file")
    return tuple(path.resolve() for path in paths)


def get_config(config) -> GraderConfig:
    rootdir = Path(str(config.rootpath))
    invocation = Path(str(config.invocation_params.dir))
    submissions = config.getoption("submissions")
    submission = None if submissions else Path(_setting(config, "submission"))
    if submission is not None and not submission.is_absolute():
        # A path given on the command line is relative to where pytest ran; the default to the repo.
        base = invocation if config.getoption("submission") else rootdir
        submission = (base / submission).resolve()
    out = lambda opt: (invocation / opt).resolve() if opt else None  # noqa: E731
    from grader.stack import BACKENDS

    stack = _setting(config, "stack")
    if stack not in BACKENDS:
        raise ValueError(f"stack backend {stack!r} is not one of {', '.join(BACKENDS)}")
    sandbox_mode = _setting(config, "sandbox")
    if sandbox_mode not in SANDBOX_MODES:
        raise ValueError(f"--sandbox {sandbox_mode!r} is not one of {', '.join(SANDBOX_MODES)}")
    _check_folder("--submission", submission)
    _check_folder("--submissions", out(submissions))
    learners = parse_learners(config.getoption("learners"))
    if learners and not submissions:
        raise ValueError(t("learners.needs_submissions"))
    roster, previous = out(config.getoption("roster")), out(config.getoption("previous"))
    if roster is not None and not roster.is_file():
        raise ValueError(t("roster.no_file", path=str(roster)))
    if previous is not None and not previous.exists():
        raise ValueError(t("previous.no_file", path=str(previous)))
    return GraderConfig(
        rootdir=rootdir,
        submission=submission,
        submissions=out(submissions),
        stack=stack,
        submission_timeout=float(_setting(config, "submission_timeout")),
        stack_timeout=float(_setting(config, "stack_timeout")),
        lang=_setting(config, "lang"),
        grade_json=out(config.getoption("grade_json")),
        gradebook=out(config.getoption("gradebook")),
        shard=parse_shard(config.getoption("shard")),
        ports={name: config.getoption(f"{name}_port") for name in PORTS},
        debug=bool(config.getoption("grader_debug")),
        no_warm=bool(config.getoption("no_warm"))
        or os.environ.get("HANDSON_NO_WARM", "").lower() in ("1", "true", "yes"),
        sandbox=sandbox_mode,
        compose_files=compose_files(config, rootdir, invocation),
        html_report=out(config.getoption("html_report")),
        script_memory=_size(config, "script_memory"),
        script_tmp=_size(config, "script_tmp"),
        script_file_size=_size(config, "script_file_size"),
        gradebook_format=config.getoption("gradebook_format") or GRADEBOOK_FORMAT,
        roster=roster,
        previous=previous,
        learners=learners,
    )


def parse_learners(text: str | None) -> tuple[str, ...]:
    """``--learners a,b,c``: the names, in order, each once (spaces around a name ignored)."""
    return tuple(dict.fromkeys(name.strip() for name in (text or "").split(",") if name.strip()))
