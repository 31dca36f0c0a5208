"""What the drills' checks share: reading a run's artifact objects from the store, the script's output."""

from __future__ import annotations

import re

from grader.checking import StepOutcome, fail, shown
from grader.store import Run

HEAD = '''"""Practice $drill: the task and your values are in TASK.md (課題と値は TASK.md にあります).

Grade / 採点:  python -m grader practice grade <this folder / このフォルダ>
"""

import os

import mlflow
'''

EXPERIMENT = '''
mlflow.set_experiment(os.environ.get("HANDSON_EXPERIMENT", "practice-$drill"))
'''


def head(drill: str, imports: str = "") -> str:
    """The top of every drill's stub and solution: docstring, imports, the attempt's experiment."""
    return HEAD.replace("$drill", drill) + imports + EXPERIMENT.replace("$drill", drill)


def objects_of(outcome: StepOutcome, run: Run) -> dict[str, str]:
    """path relative to the run's artifact root -> store key, for every object under it."""
    prefix = outcome.artifact_prefix(run)
    return {key[len(prefix) + 1:]: key for key in outcome.objects.keys(prefix)}


def object_bytes(outcome: StepOutcome, run: Run, path: str) -> bytes:
    """The object ``path`` under the run's artifact root in the artifact store (the bucket)."""
    found = objects_of(outcome, run)
    data = outcome.objects.get(found[path]) if path in found else None
    if data is None:
        fail("practice.object_missing", run=run.name, path=path, found=sorted(found))
    return data


def object_text(outcome: StepOutcome, run: Run, path: str) -> str:
    data = object_bytes(outcome, run, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        fail("practice.object_not_text", run=run.name, path=path)


def printed(outcome: StepOutcome, label: str) -> str | None:
    """The number on the last line the script printed as ``label: …`` (``[…]`` around it allowed), else what
    that line held; None when there is no such line."""
    found = re.findall(rf"^{re.escape(label)}:[ \t]*(.*?)[ \t]*$", outcome.script.output, flags=re.M)
    if not found:
        return None
    number = re.fullmatch(r"[\[( ]*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)[\]) ,]*", found[-1])
    return number.group(1) if number else found[-1]


__all__ = ["head", "object_bytes", "object_text", "objects_of", "printed", "shown"]
