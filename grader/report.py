"""Scores and reports, all computed from the same per-check results.

A result is ``learner, check, status, message`` with status ``passed``, ``failed`` (the learner's),
``not_graded`` (it failed because a check it needs failed: no points, and no second expected/found block)
or ``error`` (the stack's: no points, and reported as such, never as a silent zero); grader/outcomes.py
decides which. ``learner`` is the
learner's id (grader/session.py ``learner_ids``); wherever it differs from the submission folder's name,
the reports show that name beside it (``folders``: id -> folder name).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

from grader import catalog, outcomes, text
from grader.i18n import cause, t


@dataclasses.dataclass
class Result:
    learner: str
    check: str
    status: str
    message: str = ""
    # wall time of the step's script (None for checks that run no script)
    script_seconds: float | None = None
    # not_graded: the failed checks it needs
    needs: tuple[str, ...] = ()

    @property
    def max_score(self) -> float:
        return catalog.get(self.check).points

    @property
    def score(self) -> float:
        return self.max_score if self.status == "passed" else 0.0



def script_state(s, *, page: bool = False) -> str:
    """How a script run that did not pass ended, in one line: the terminal's words (``page=False``: it names
    the script) or the HTML page's (its section already does). The one place the three endings are told."""
    if s.worker_lost:
        return t("script.worker_lost", script=s.script)
    if s.timed_out:
        if page:  # a line of its own: the output follows on the page
            return t("html.timed_out", timeout=f"{s.timeout:g}")
        return t("script.timed_out", script=s.script, timeout=f"{s.timeout:g}")
    if page:
        return t("html.script_exit", code=s.returncode, duration=f"{s.duration:.1f}")
    return t("script.exited", script=s.script, code=s.returncode, duration=f"{s.duration:.1f}")

def by_learner(results: list[Result]) -> dict[str, dict[str, Result]]:
    out: dict[str, dict[str, Result]] = defaultdict(dict)
    for r in results:
        out[r.learner][r.check] = r
    return out


def _ordered(checks: dict[str, Result], entries: dict | None = None) -> list[Result]:
    order = {c_id: i for i, c_id in enumerate(entries or catalog.BY_ID)}
    return sorted(checks.values(), key=lambda r: order[r.check])


def step_points(checks: dict[str, Result]) -> dict[str, tuple[float, float]]:
    points: dict[str, list[float]] = {}
    for r in _ordered(checks):
        got, top = points.setdefault(catalog.get(r.check).step, [0.0, 0.0])
        points[catalog.get(r.check).step] = [got + r.score, top + r.max_score]
    return {step: (got, top) for step, (got, top) in points.items()}


def num(x: float) -> str:
    """Points as every report writes them: 27, 0.5 (no trailing .0)."""
    return f"{x:g}"


def learner_label(learner: str, folder: str | None) -> str:
    """The learner's id, and the folder's own name (quoted) when the id is not that name."""
    if folder is None or folder == learner:
        return learner
    return t("learner.folder", learner=learner, folder=folder)


def summary_lines(results: list[Result], folders: dict[str, str] | None = None) -> list[str]:
    """The terminal summary: per learner, per step, points and a mark per check."""
    marks = outcomes.MARKS
    lines = []
    learners = by_learner(results)
    folders = folders or {}
    for learner, checks in sorted(learners.items()):
        total = sum(r.score for r in checks.values())
        top = sum(r.max_score for r in checks.values())
        lines.append(t("summary.learner", learner=learner_label(learner, folders.get(learner)), score=num(total),
                       max=num(top)))
        per_step = step_points(checks)
        current = None
        for r in _ordered(checks):
            check = catalog.get(r.check)
            if check.step != current:
                current = check.step
                got, top_step = per_step[current]
                lines.append(f"  {current}: {num(got)}/{num(top_step)}")
            line = f"    {marks.get(r.status, '?')} {r.check:<26} {check.title()}"
            # Not graded: why, on the same line (its root's failure is told once, under the root).
            lines.append(line + f"  ({r.message})" if r.status == outcomes.NOT_GRADED else line)
        errors = [r for r in checks.values() if r.status == "error"]
        if errors:
            lines.append("  " + t("summary.errors", count=len(errors)))
    return lines


def gradescope(checks: dict[str, Result], tracking_uri: str | None = None, entries: dict | None = None,
               learner: str | None = None, folder: str | None = None, restarts: list[dict] | None = None) -> dict:
    """``entries``: check id -> its declaration (title(), points, hidden, step) when the checks are not the
    catalogue's (the practice drills'). ``learner``, ``folder``: the learner's id and submission folder."""
    entries = entries or catalog.BY_ID
    tests = []
    for r in _ordered(checks, entries):
        check = entries[r.check]
        output = r.message if r.status != "passed" else ""
        if r.status == "error":
            output = t("report.infra_error") + "\n" + output
        score = check.points if r.status == "passed" else 0.0
        # Gradescope knows only passed/failed: a not-graded check is "failed" at 0 points, and says why.
        extra = {"check": r.check, "status": r.status, **({"needs": list(r.needs)} if r.needs else {})}
        tests.append({
            "name": f"{r.check} {check.title()}",
            "score": score,
            "max_score": check.points,
            "status": "passed" if r.status == "passed" else "failed",
            "output": output,
            "visibility": "hidden" if check.hidden else "visible",
            # Machine-readable verdict: "error" = the stack failed, not the learner; "not_graded" = a check
            # it needs (extra_data.needs) failed.
            "extra_data": extra,
        })
    return {
        "score": sum(t_["score"] for t_ in tests),
        "max_score": sum(t_["max_score"] for t_ in tests),
        "output": t("report.errors_note", count=sum(1 for r in checks.values() if r.status == "error"))
        if any(r.status == "error" for r in checks.values()) else "",
        "tests": tests,
        "extra_data": {"script_seconds": script_seconds(checks, entries), "tracking_uri": tracking_uri,
                       **({"learner": learner} if learner is not None else {}),
                       **({"folder": text.clean(folder)} if folder is not None else {}),
                       # restarts of the stack while this learner's scripts ran (they were run again)
                       "restarts": [{k: e.get(k) for k in ("time", "service", "cause", "restarted")}
                                    | {"steps": [step for _, step in e.get("scripts") or []]} for e in restarts or []]},
    }


def restart_lines(restarts: list[dict]) -> list[str]:
    """One line per restart of a stack service (GradingSession.restarts), with the scripts it interrupted."""
    import datetime

    from grader.session import MAX_ATTEMPTS

    if not restarts:
        return []
    lines = [t("restart.title", count=len(restarts), attempts=MAX_ATTEMPTS)]
    for event in restarts:
        outcome = (t("restart.restarted", seconds=event.get("seconds", "?")) if event.get("restarted")
                   else t("restart.failed", error=cause(str(event.get("error", ""))[:200])))
        lines.append("  " + t("restart.line", time=datetime.datetime.fromtimestamp(event["time"]).strftime("%H:%M:%S"),
                               service=event["service"], cause=cause(event.get("cause", "")), outcome=outcome,
                               scripts=t("value.sep").join(f"{lr} {step}" for lr, step in event.get("scripts") or [])
                               or t("restart.no_script")))
    return lines


def restarts_of(learner: str, restarts: list[dict]) -> list[dict]:
    return [e for e in restarts if any(lr == learner for lr, _ in e.get("scripts") or [])]


def script_seconds(checks: dict[str, Result], entries: dict | None = None) -> dict[str, float]:
    """step -> the wall time of its script, as the checks of that step saw it."""
    entries = entries or catalog.BY_ID
    return {entries[r.check].step: r.script_seconds for r in _ordered(checks, entries) if r.script_seconds is not None}


def write_gradescope(path: Path, checks: dict[str, Result], tracking_uri: str | None = None,
                     entries: dict | None = None, learner: str | None = None, folder: str | None = None,
                     restarts: list[dict] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = gradescope(checks, tracking_uri, entries, learner, folder, restarts)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


GRADEBOOK_STEPS = catalog.STEPS


def gradebook_rows(results: list[Result], folders: dict[str, str] | None = None,
                   restarts: list[dict] | None = None) -> list[dict]:
    rows = []
    folders = folders or {}
    for learner, checks in sorted(by_learner(results).items()):
        per_step = step_points(checks)
        row = {"learner": learner}
        for step in GRADEBOOK_STEPS:
            row[step] = num(per_step.get(step, (0.0, 0.0))[0])
        row["total"] = num(sum(r.score for r in checks.values()))
        row["max"] = num(sum(r.max_score for r in checks.values()))
        row["errors"] = str(sum(1 for r in checks.values() if r.status == "error"))
        row["folder"] = text.clean(folders.get(learner, learner))
        row["restarts"] = str(len(restarts_of(learner, restarts or [])))
        row["not_graded"] = str(sum(1 for r in checks.values() if r.status == outcomes.NOT_GRADED))
        rows.append(row)
    return rows


GRADEBOOK_FIELDS = ["learner", *GRADEBOOK_STEPS, "total", "max", "errors", "folder", "restarts", "not_graded"]
# --previous: the previous run's total and the change since, appended after every column of today's format.
PREVIOUS_FIELDS = ["previous", "delta"]


# A spreadsheet runs a cell that starts with one of these as a formula. The folder column is the one a learner
# names (a folder "=HYPERLINK(...)" would run on the instructor's machine), so it is written with a leading "'",
# which spreadsheets show as text; a name that itself starts with "'" gets one too, so reading back is exact.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_TEXT_FIELDS = ("folder",)


def _as_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _from_text(value: str) -> str:
    return value[1:] if value.startswith("'") else value


def write_gradebook(path: Path, rows: list[dict], fmt: str = "csv", roster=None):
    """Write the gradebook: ``fmt`` "csv" (the grader's own columns) or an LMS's import format (grader/lms.py,
    ``roster``: lms.Roster or None). Returns what the roster matched (lms.Matched) for an LMS format, else None."""
    if fmt != "csv":
        from grader import lms

        return lms.write(path, rows, fmt, roster)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Columns added later come last, so tools that read the columns by position still find theirs.
    fields = list(GRADEBOOK_FIELDS)
    if any("previous" in row for row in rows):
        fields += PREVIOUS_FIELDS
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r["learner"]):
            writer.writerow({k: _as_text(row.get(k, "")) if k in _TEXT_FIELDS else row.get(k, "") for k in fields})
    return None


def read_gradebook(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _from_text(v) if k in _TEXT_FIELDS and v else v for k, v in row.items()}
                for row in csv.DictReader(f)]


# A --grade-json folder of a class holds one Gradescope results file per learner: <folder>/<learner id>/results.json.
RESULTS_FILE = "results.json"


def results_path(folder: Path, learner: str) -> Path:
    """Where learner ``learner``'s results file sits in the results folder ``folder``."""
    return folder / learner / RESULTS_FILE


def read_results_dir(path: Path) -> dict[str, dict]:
    """A ``--grade-json`` folder of a class: learner id -> its results.json (``<id>/results.json``)."""
    return {learner: data for learner, (_file, data) in results_files(path).items()}


def results_files(path: Path) -> dict[str, tuple[Path, dict]]:
    """learner id -> (its results.json, what it holds), for a ``--grade-json`` folder of a class."""
    out = {}
    for file in sorted(path.glob(f"*/{RESULTS_FILE}")):
        data = json.loads(file.read_text(encoding="utf-8"))
        out[(data.get("extra_data") or {}).get("learner") or file.parent.name] = (file, data)
    return out


def results_of_json(learner: str, data: dict) -> dict[str, Result]:
    """The results a results.json holds (its tests' ``extra_data``), as the grader's own Result objects."""
    checks = {}
    for test in data.get("tests", []):
        extra = test.get("extra_data") or {}
        check = extra.get("check")
        if check in catalog.BY_ID:
            checks[check] = Result(learner, check, extra.get("status") or test.get("status", "failed"),
                                   test.get("output", ""), needs=tuple(extra.get("needs") or ()))
    return checks


# -- --previous: what changed since an earlier run -----------------------------------------------------
@dataclasses.dataclass
class Previous:
    total: float
    steps: dict[str, float]
    # check id -> (status, message); None when the previous run is a gradebook (points per step only)
    checks: dict[str, tuple[str, str]] | None = None


class PreviousError(ValueError):
    """--previous names nothing the grader can read; the message is in the reader's language."""


def read_previous(path: Path) -> dict[str, Previous]:
    """learner id -> the previous run's result, from a gradebook CSV (the grader's own format), a results
    folder (``--grade-json`` of a class) or one results.json."""
    try:
        if path.is_dir():
            datas = read_results_dir(path)
            if not datas:
                raise PreviousError(t("previous.unreadable", path=str(path)))
        elif path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            datas = {(data.get("extra_data") or {}).get("learner") or path.stem: data}
        else:
            rows = read_gradebook(path)
            if rows and not {"learner", "total"} <= set(rows[0]):
                raise PreviousError(t("previous.unreadable", path=str(path)))
            return {row["learner"]: Previous(float(row["total"] or 0),
                                             {s: float(row[s]) for s in GRADEBOOK_STEPS if row.get(s)})
                    for row in rows}
    except PreviousError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise PreviousError(t("previous.broken", path=str(path), error=f"{type(e).__name__}: {e}")) from None
    out = {}
    for learner, data in datas.items():
        checks = results_of_json(learner, data)
        out[learner] = Previous(float(data.get("score", 0)), {s: got for s, (got, _) in step_points(checks).items()},
                                {c: (r.status, r.message) for c, r in checks.items()})
    return out


def add_previous(rows: list[dict], previous: dict[str, Previous]) -> list[dict]:
    """The gradebook's ``previous`` and ``delta`` columns (empty for a learner the previous run did not grade)."""
    for row in rows:
        before = previous.get(row["learner"])
        row["previous"] = num(before.total) if before else ""
        row["delta"] = num(float(row["total"]) - before.total) if before else ""
    return rows


def _found_line(message: str) -> str:
    """The "found" line of a failure message (why it fails now), or its first line after the title."""
    lines = [line.strip() for line in message.splitlines()[1:] if line.strip()]
    found = t("label.found").strip()
    return next((line for line in lines if line.startswith(found)), lines[0] if lines else "")


def change_lines(results: list[Result], previous: dict[str, Previous],
                 folders: dict[str, str] | None = None) -> list[str]:
    """The terminal's "changes since the previous run": per learner whose points or checks changed, the
    points before and now, and each check whose outcome changed (with why it does not pass now)."""
    marks = outcomes.MARKS
    folders = folders or {}
    lines = []
    for learner, checks in sorted(by_learner(results).items()):
        label = learner_label(learner, folders.get(learner))
        total = sum(r.score for r in checks.values())
        before = previous.get(learner)
        if before is None:
            lines.append(t("previous.new", learner=label, score=num(total)))
            continue
        changed = []
        if before.checks is not None:
            for r in _ordered(checks):
                old = before.checks.get(r.check)
                if old is not None and old[0] == r.status:
                    continue
                was = marks.get(old[0], "?") if old else t("previous.not_run")
                line = f"    {was} → {marks.get(r.status, '?')} {r.check:<26} {catalog.get(r.check).title()}"
                why = _found_line(r.message) if r.status != outcomes.PASSED else ""
                changed.append(line)
                if why:
                    changed.append("        " + why)
        else:
            for step, (got, _top) in step_points(checks).items():
                if step in before.steps and before.steps[step] != got:
                    changed.append(f"    {step}: {num(before.steps[step])} → {num(got)}")
        if changed or total != before.total:
            lines.append(t("previous.learner", learner=label, before=num(before.total), score=num(total),
                           delta=("+" if total >= before.total else "") + num(total - before.total)))
            lines += changed
    return lines
