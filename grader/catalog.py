"""The check catalogue: every check's id, points and visibility, declared once.

Titles and hints live in the message catalogue under ``<id>.title`` and ``<id>.hint`` (English and
Japanese). Reports, the terminal summary and the Classroom workflow all read points from here.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Check:
    id: str
    points: float = 1.0
    hidden: bool = False
    # "stack": a fact about the stack itself (the learner's work when they bring the stack up with
    # docker compose and grade it with --stack external); "learner": a fact their script produced.
    kind: str = "learner"
    # Checks this one builds on, of the same step (their script's run is graded on one worker, in order).
    # When this check fails and one of them failed too, the failure is theirs seen again: this one is
    # "not graded — needs X" (grader/outcomes.py), so one mistake shows as one failed check.
    needs: tuple[str, ...] = ()
    # It loads the learner's registered model in a sandbox of its own (grader/checking.py, start_evaluator),
    # which the session starts ahead of the check, as it does the next script.
    evaluates_model: bool = False

    @property
    def step(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def step_number(self) -> int:
        return int(self.step.removeprefix("step"))

    def title(self) -> str:
        from grader.i18n import t

        return t(f"{self.id}.title")

    def hint(self) -> str:
        from grader.i18n import t

        return t(f"{self.id}.hint")


# The needs graph: each step has one root that every other check reads through (its experiment, or the
# run the other checks look inside), and a chain where a later fact is read off an earlier one.
CHECKS: tuple[Check, ...] = (
    Check("step1.server", kind="stack"),
    Check("step1.backend_tables", kind="stack"),
    Check("step1.artifact_bucket", kind="stack"),
    Check("step1.experiment"),
    Check("step1.experiment_tag", needs=("step1.experiment",)),
    Check("step1.duplicate_rejected", needs=("step1.experiment",)),
    Check("step2.experiment"),
    Check("step2.run", needs=("step2.experiment",)),
    Check("step2.tag", needs=("step2.run",)),
    Check("step2.param", needs=("step2.run",)),
    Check("step2.params", needs=("step2.run",)),
    Check("step2.metric_history", needs=("step2.run",)),
    Check("step2.latest_metrics", needs=("step2.metric_history",)),
    Check("step3.run"),
    Check("step3.text", needs=("step3.run",)),
    Check("step3.json", needs=("step3.run",)),
    Check("step3.binary", needs=("step3.run",)),
    Check("step3.in_object_store", needs=("step3.run",)),
    Check("step4.parent"),
    Check("step4.children", needs=("step4.parent",)),
    Check("step4.child_data", needs=("step4.children",)),
    Check("step4.timeline", needs=("step4.parent", "step4.children")),
    Check("step5.sweep"),
    Check("step5.curves", needs=("step5.sweep",)),
    Check("step5.best", needs=("step5.sweep",)),
    Check("step5.registered", needs=("step5.sweep",)),
    Check("step5.model_files", needs=("step5.registered",), evaluates_model=True),
)

BY_ID = {c.id: c for c in CHECKS}
STEPS = tuple(sorted({c.step for c in CHECKS}))
EVALUATING_CHECKS = frozenset(c.id for c in CHECKS if c.evaluates_model)
# What the session's queue calls the model's evaluation, in place of a step (by no check id: a hidden check's
# id appears nowhere in an export's code).
MODEL_EVALUATION = "model-evaluation"


def get(check_id: str) -> Check:
    return BY_ID[check_id]


def max_points(step: str | None = None, include_hidden: bool = True) -> float:
    return sum(c.points for c in CHECKS
               if (step is None or c.step == step) and (include_hidden or not c.hidden))
