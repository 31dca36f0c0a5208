"""Script results of one grading run: each learner's script for a step runs once, and every process reads
that one result.

A step's checks are many pytest items, possibly spread over pytest-xdist workers; the script they grade
must run once (it creates the data they read) and each of them must see the same result. The ledger keeps
it in the grading run's work folder, one JSON file per (learner, step), behind a file lock that holds
across processes. A ``.started`` marker beside it says a run began: a worker that died with its script
(the script took it down) leaves the marker and no result, and the step is then recorded as lost instead
of being run again.

Also here: ``run_attempt``, one run of a script under the names a naming hands out; the grading run and
the practice drills both run scripts through it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

from filelock import FileLock

from grader import sandbox
from grader.limits import Limits
from grader.runner import Pending, ScriptResult, start_script
from grader.stack.base import StackInfo


class Ledger:
    """The record of script results in ``folder`` (the grading run's work folder, shared by its workers)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path_for(self, learner_id: str, step: str) -> Path:
        """Where (learner, step)'s result is recorded. The only place that knows the file's name: its marker
        and lock sit beside it, and everything that reads results asks here. A step's result holds the
        attempt it ended in (``ScriptResult.attempt``): one record per step, whatever the attempts."""
        return self.folder / f"{learner_id}.{step}.json"

    def has(self, learner_id: str, step: str) -> bool:
        """Whether the script ran in this grading run (a step left out with ``-k`` did not)."""
        return self.path_for(learner_id, step).exists()

    def result(self, learner_id: str, step: str, script: Path, run: Callable[[], ScriptResult]) -> ScriptResult:
        """The recorded result, or ``run()``'s, recorded, when no process ran the script yet. ``script`` is
        named in the result of a run lost with its worker. An exception from ``run`` (the stack failed
        before or while the script ran) records nothing: that is no worker lost, a later ask runs it."""
        path = self.path_for(learner_id, step)
        started = path.with_suffix(".started")
        with FileLock(str(path) + ".lock"):
            if path.exists():
                return ScriptResult.from_dict(json.loads(path.read_text()))
            if started.exists():
                # An earlier run began and its grading worker died with it: never run it again.
                result = ScriptResult(script=str(script), exists=True, returncode=None, worker_lost=True)
            else:
                started.touch()
                try:
                    result = run()
                except Exception:
                    started.unlink(missing_ok=True)
                    raise
            path.write_text(json.dumps(result.to_dict()))
            return result

    def recorded(self, learner_id: str, steps: Iterable[str]) -> dict[str, dict]:
        """step -> the raw record of each of ``steps`` that has one and can be read (for reports that need
        only a field or two, such as the outages a script went through)."""
        found = {}
        for step in steps:
            try:
                found[step] = json.loads(self.path_for(learner_id, step).read_text())
            except (OSError, ValueError):
                continue
        return found


def start_attempt(names, learner_id: str, submission: Path, step: str, info: StackInfo, data_dir: Path,
                  timeout: float, *, credentials: tuple[str, str] | None, plan: sandbox.Plan, attempt: int = 0,
                  base: Path | None = None, limits: Limits | None = None,
                  warm: tuple[str, ...] | None = None) -> Pending:
    """Make ready ``submission``'s ``<step>.py`` (grader/runner.py ``start_script``) under the experiment and
    model names ``names`` gives for (learner, step, attempt) and the learner's MLflow user ``credentials``."""
    return start_script(submission, f"{step}.py", info, names.experiment(learner_id, step, attempt), data_dir,
                        names.model(learner_id, attempt), timeout, credentials=credentials, plan=plan, base=base,
                        limits=limits, warm=warm)


def run_attempt(names, learner_id: str, submission: Path, step: str, info: StackInfo, data_dir: Path,
                timeout: float, *, credentials: tuple[str, str] | None, plan: sandbox.Plan, attempt: int = 0,
                base: Path | None = None, limits: Limits | None = None,
                warm: tuple[str, ...] | None = None) -> ScriptResult:
    """Run ``submission``'s ``<step>.py`` once, as ``start_attempt`` makes it ready."""
    result = start_attempt(names, learner_id, submission, step, info, data_dir, timeout, credentials=credentials,
                           plan=plan, attempt=attempt, base=base, limits=limits, warm=warm).go()
    result.attempt = attempt
    return result
