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


CHECKS: tuple[Check, ...] = (
    Check("step1.server", kind="stack"),
    Check("step1.backend_tables", kind="stack"),
    Check("step1.artifact_bucket", kind="stack"),
    Check("step1.experiment"),
    Check("step1.experiment_tag"),
    Check("step1.duplicate_rejected"),
    Check("step2.experiment"),
    Check("step2.run"),
    Check("step2.tag"),
    Check("step2.param"),
    Check("step2.params"),
    Check("step2.metric_history"),
    Check("step2.latest_metrics"),
    Check("step3.run"),
    Check("step3.text"),
    Check("step3.json"),
    Check("step3.binary"),
    Check("step3.in_object_store"),
    Check("step4.parent"),
    Check("step4.children"),
    Check("step4.child_data"),
    Check("step4.timeline"),
    Check("step5.sweep"),
    Check("step5.curves"),
    Check("step5.best"),
    Check("step5.registered"),
    Check("step5.model_files"),
)

BY_ID = {c.id: c for c in CHECKS}
STEPS = tuple(sorted({c.step for c in CHECKS}))


def get(check_id: str) -> Check:
    return BY_ID[check_id]


def max_points(step: str | None = None, include_hidden: bool = True) -> float:
    return sum(c.points for c in CHECKS
               if (step is None or c.step == step) and (include_hidden or not c.hidden))
