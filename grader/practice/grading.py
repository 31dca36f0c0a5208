"""Writing a practice attempt to a folder, and grading it: the drill's script runs exactly as a step's
script does, through the same parts (grader/ledger.py's ``run_attempt``: sandboxed, env allowlist, timeout,
output captured and redacted; the attempt's own MLflow user from grader/accounts.py where the stack has
access control; its names from grader/naming.py); its checks read the tracking database and the artifact
store."""

from __future__ import annotations

import dataclasses
import json
import secrets
from pathlib import Path

from grader import outcomes, report, sandbox, text
from grader.accounts import Accounts
from grader.checking import CheckFailed, StepOutcome, labelled
from grader.i18n import get_lang, t
from grader.ledger import run_attempt
from grader.naming import PracticeNaming
from grader.practice import Drill, get
from grader.runner import ScriptResult
from grader.stack.base import StackInfo

STATE = ".practice.json"
LEARNER = "practice"


class PracticeError(Exception):
    """Bad input (an unknown drill, a folder without an attempt): one clear line for the learner."""


def drill_or_error(drill_id: str) -> Drill:
    drill = get(drill_id)
    if drill is None:
        from grader.practice import all_drills

        raise PracticeError(t("practice.unknown", drill=drill_id, known=t("value.sep").join(all_drills())))
    return drill


def new_seed() -> int:
    return secrets.randbelow(1_000_000)


def task_markdown(drill: Drill, seed: int, dest: Path) -> str:
    lines = [f"# {drill.title()}", "", t("practice.task_meta", drill=drill.id, seed=seed), "",
             drill.task(seed).strip(), "", "## " + t("practice.task_checks"), ""]
    lines += [f"- `{c.id}` — {c.title()}" for c in drill.checks(seed)]
    lines += ["", "## " + t("practice.task_howto"), "", "```bash",
              f"python -m grader practice grade {dest}", "```", ""]
    return "\n".join(lines)


def write_attempt(drill: Drill, seed: int, dest: Path, script: str, *, keep_script: bool) -> bool:
    """TASK.md, the script and the attempt's record in ``dest``. With ``keep_script`` an existing script (the
    learner's work) stays as it is; returns whether the script was written."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "TASK.md").write_text(task_markdown(drill, seed, dest), encoding="utf-8")
    (dest / STATE).write_text(json.dumps({"drill": drill.id, "seed": seed, "lang": get_lang()}) + "\n",
                              encoding="utf-8")
    path = dest / f"{drill.id}.py"
    if keep_script and path.exists():
        return False
    path.write_text(script, encoding="utf-8")
    return True


def read_attempt(dest: Path) -> tuple[Drill, int]:
    path = dest / STATE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        drill_id, seed = state["drill"], int(state["seed"])
    except FileNotFoundError:
        raise PracticeError(t("practice.no_attempt", dest=dest)) from None
    except (ValueError, KeyError, TypeError):
        raise PracticeError(t("practice.bad_attempt", path=path)) from None
    return drill_or_error(drill_id), seed


@dataclasses.dataclass
class Graded:
    drill: Drill
    seed: int
    script: ScriptResult
    results: list  # [report.Result], in the drill's check order
    outcome: StepOutcome | None = None

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.status == "passed" for r in self.results)

    def entries(self) -> dict:
        return {c.id: c for c in self.drill.checks(self.seed)}


def grade(dest: Path, info: StackInfo, data_dir: Path, *, timeout: float = 60.0,
          sandbox_mode: str = "auto") -> Graded:
    """Run ``dest``'s script once under fresh names and check what it left in the stack."""
    from grader.store import AuthDB, ObjectStore, TrackingDB

    drill, seed = read_attempt(dest)
    values = drill.values(seed)
    names = PracticeNaming(drill.id)  # fresh names on every grade: an earlier attempt's data never counts
    credentials = Accounts(names).credentials(info, LEARNER)
    script = run_attempt(names, LEARNER, dest, drill.id, info, data_dir, timeout, credentials=credentials,
                         plan=sandbox.plan(sandbox_mode))
    db, objects = TrackingDB(info.db_url), ObjectStore(info)
    auth = AuthDB(info.auth_db_url) if info.auth_db_url else None
    outcome = StepOutcome(learner=LEARNER, step=drill.id, submission=dest, data_dir=data_dir, script=script,
                          experiment_name=names.experiment(LEARNER, drill.id), model_name=names.model(LEARNER),
                          stack=info, db=db, objects=objects, user=credentials[0] if credentials else None,
                          auth=auth, run_prefix=names.prefix)
    results, verdicts = [], {}
    try:
        for check in drill.checks(seed):
            results.append(_run_check(check, outcome, values, script, verdicts))
    finally:
        db.close()
        if auth is not None:
            auth.close()
    return Graded(drill, seed, script, results, outcome)


def _run_check(check, outcome: StepOutcome, values: dict, script: ScriptResult,
               verdicts: dict | None = None) -> report.Result:
    """One drill check, judged like a hands-on check (grader/outcomes.py); ``verdicts``: those of the
    drill's checks graded before it (for the checks a drill check may need)."""
    verdicts = {} if verdicts is None else verdicts
    if not script.exists:
        verdict = outcomes.Verdict(outcomes.FAILED, CheckFailed("script.missing", script=script.script).render())
    else:
        error = None
        try:
            check.run(outcome, values)
        except Exception as e:  # noqa: BLE001 - every exception becomes a verdict, never a traceback
            error = e
        verdict = outcomes.judge(error, check.id, needs=getattr(check, "needs", ()), verdicts=verdicts)
    verdicts[check.id] = verdict
    # Exception texts can carry the learner's text: cleaned like every message (grader/text.py).
    return report.Result(LEARNER, check.id, verdict.status, text.clean(verdict.message, text.MAX_MESSAGE),
                         round(script.duration, 3), verdict.needs)


def render(graded: Graded) -> list[str]:
    """The learner's view: a mark per check; under a failed one what was expected and found, and a hint;
    a crashed or hung script's output once."""
    from grader.plugin import _script_note

    marks = outcomes.MARKS
    lines = [t("practice.grading", drill=graded.drill.id, seed=graded.seed, title=graded.drill.title())]
    checks = graded.entries()
    for r in graded.results:
        check = checks[r.check]
        lines.append(f"  {marks[r.status]} {r.check} — {check.title()}")
        if r.status != "passed":
            lines += ["      " + line for line in r.message.splitlines()]
            # a timed-out script is told so below, with its output; a hint about what it never reached misleads
            if r.status == "failed" and graded.script.exists and not graded.script.timed_out:
                lines.append("      " + labelled(t("label.hint"), check.hint()))
    note = _script_note(graded.outcome) if graded.outcome is not None else ""
    if note:
        lines += ["  " + line for line in note.splitlines()]
    passed = sum(1 for r in graded.results if r.status == "passed")
    lines.append(t("practice.score", passed=passed, total=len(graded.results)))
    return lines


def write_results(graded: Graded, path: Path, tracking_uri: str | None) -> None:
    report.write_gradescope(path, {r.check: r for r in graded.results}, tracking_uri, graded.entries())
