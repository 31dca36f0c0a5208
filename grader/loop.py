"""The learner loop's commands: ``python -m grader hint stepN``, ``progress`` and ``reset stepN``.

- ``hint stepN [--level K]``: the first failing check of that step, from the last grading run
  (``.handson/progress.json``, grader/progress.py; or ``--results PATH``, a results file written with
  ``pytest --grade-json PATH``), and its next hint level: 1 the MLflow concept (``<id>.hint1``), 2 the API
  call (``<id>.hint``, the hint every failure message shows), 3 a code skeleton with ``____`` blanks
  (``<id>.hint3``), never the answer. The level each check reached is kept in the same record, under
  ``hints``; ``--level`` shows one level (and counts as reached). Hidden checks have no hints.
- ``progress``: the five steps (passed when, attempts, points) from that record, and the practice drills
  started in the repository (a folder with ``.practice.json``; points when a results file sits beside it).
- ``reset stepN [--yes]``: the step's script becomes the untouched stub again, after a y/N question on stdin
  (no answer, or no stdin, is no). The learner's version is kept as ``stepN.py.bak`` (``.bak.1``, ``.bak.2``, …
  when one is there already).

The untouched stubs: ``exercises/`` is the very folder a learner edits (and commits), so neither it nor git
can give the stub back. The grader package ships its own copy, ``grader/stubs/stepN.py``; the suite's
tests keep it byte-equal to ``exercises/`` (when an exercise changes, copy it there too), and the learner
release (grader/export.py) carries it with the rest of ``grader/``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from grader import catalog, config, progress, text
from grader.i18n import get_lang, t

ROOT = Path(__file__).resolve().parents[1]
STUBS = Path(__file__).resolve().parent / "stubs"
LEVELS = (1, 2, 3)
BLANK = "____"
# What a failed check's status says about the learner's script: graded and wrong, or not graded because a
# check it needs failed (its root is then the first failing one, earlier in the catalogue).
_FAILING = ("failed", "not_graded")


def hint_key(check_id: str, level: int) -> str:
    """The message key of one hint level; level 2 is the hint every failure message shows."""
    return f"{check_id}.hint" if level == 2 else f"{check_id}.hint{level}"


def hint_text(check_id: str, level: int) -> str:
    return t(hint_key(check_id, level))


def add_parsers(sub) -> None:
    from grader import options

    lang = get_lang()
    hint = sub.add_parser("hint", help=t("help.hint"))
    hint.add_argument("step", metavar="stepN", help=t("help.loop_step"))
    hint.add_argument("--level", type=int, choices=LEVELS, default=None, metavar="K", help=t("help.hint_level"))
    prog = sub.add_parser("progress", help=t("help.progress"))
    reset = sub.add_parser("reset", help=t("help.reset"))
    reset.add_argument("step", metavar="stepN", help=t("help.loop_step"))
    reset.add_argument("--yes", action="store_true", help=t("help.reset_yes"))
    for parser in (hint, prog, reset):
        options.add_to_argparse(parser, "submission", lang=lang)
        options.add_to_argparse(parser, "lang", lang=lang, dest="loop_lang")
    for parser in (hint, prog):
        parser.add_argument("--results", default=None, metavar="PATH", help=t("help.loop_results"))


def submission_of(args) -> Path:
    """``--submission DIR`` (from where the command runs), else the default folder of this repository."""
    if args.submission:
        return Path(args.submission).resolve()
    folder = Path(config.outside_pytest("submission"))
    return folder if folder.is_absolute() else ROOT / folder


def main(args) -> int:
    return {"hint": hint, "progress": show_progress, "reset": reset}[args.command](args)


def _step_or_none(step: str) -> str | None:
    if step in catalog.STEPS:
        return step
    print(t("loop.bad_step", step=step, steps=t("value.sep").join(catalog.STEPS)), file=sys.stderr)
    return None


def _load(path: Path) -> dict:
    data, broken = progress.load(path)
    if broken:
        print(t("loop.progress_replaced", path=str(path), error=broken), file=sys.stderr)
    return data


def _statuses(args, data: dict, step: str) -> dict[str, str] | None:
    """check id -> its last status, for ``step``'s checks; None when no grading of that step is known."""
    if args.results:
        checks = _results_file(Path(args.results))
        found = {c: status for c, status in checks.items() if catalog.get(c).step == step}
    else:
        entry = data["steps"].get(step) or {}
        found = {c: s for c, s in (entry.get("checks") or {}).items() if c in catalog.BY_ID}
    return found or None


def _results_file(path: Path) -> dict[str, str]:
    """check id -> status, from a results file (pytest --grade-json PATH); empty when it cannot be read."""
    from grader import report

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {c: r.status for c, r in report.results_of_json("", data).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        print(t("loop.results_unreadable", path=str(path)), file=sys.stderr)
        return {}


def first_failing(statuses: dict[str, str]) -> str | None:
    for check in catalog.CHECKS:
        if statuses.get(check.id) in _FAILING:
            return check.id
    return None


# -- hint ------------------------------------------------------------------------------------------
def hint(args) -> int:
    step = _step_or_none(args.step)
    if step is None:
        return 2
    submission = submission_of(args)
    path = progress.progress_path(submission)
    data = _load(path)
    statuses = _statuses(args, data, step)
    if statuses is None:
        print(t("loop.no_results", step=step, path=str(args.results or path)))
        return 1
    check_id = first_failing(statuses)
    if check_id is None:
        if any(s == "error" for s in statuses.values()):
            print(t("loop.only_errors", step=step))
            return 1
        print(t("loop.all_passed", step=step))
        return 0
    check = catalog.get(check_id)
    print(f"{check.id} — {check.title()}")
    if check.hidden:
        print(t("loop.hidden", check=check.id))
        return 0
    reached = data["hints"].get(check_id)
    reached = reached if isinstance(reached, int) and reached in LEVELS else 0
    level = args.level or min(reached + 1, LEVELS[-1])
    print(t("loop.hint_level", level=level, top=LEVELS[-1], what=t(f"loop.level{level}")))
    print("\n".join("  " + line for line in hint_text(check_id, level).splitlines()))
    if level < LEVELS[-1]:
        print(t("loop.hint_next", step=step, level=level + 1))
    else:
        print(t("loop.hint_last", step=step))
    data["hints"][check_id] = max(reached, level)
    try:
        progress.save(path, data)
    except OSError as e:
        print(t("loop.progress_not_written", path=str(path), error=f"{type(e).__name__}: {e}"), file=sys.stderr)
    return 0


# -- progress --------------------------------------------------------------------------------------
def _when(stamp) -> str:
    """An ISO time as the table shows it: date, hours and minutes."""
    return str(stamp)[:16].replace("T", " ") if stamp else "–"


def step_rows(data: dict, from_results: dict[str, str] | None = None) -> list[tuple]:
    """One row per step: step, status, passed when, attempts, points/max."""
    from grader.report import num

    rows = []
    for step in catalog.STEPS:
        mine = [c for c in catalog.CHECKS if c.step == step]
        top = sum(c.points for c in mine)
        if from_results is not None:
            checks = {c.id: from_results[c.id] for c in mine if c.id in from_results}
            entry = {"checks": checks} if checks else {}
        else:
            entry = data["steps"].get(step) or {}
        checks = entry.get("checks") or {}
        if not checks:
            rows.append((step, t("loop.status_new"), "–", "–", f"–/{num(top)}"))
            continue
        got = sum(c.points for c in mine if checks.get(c.id) == progress.PASSED)
        passed_now = got == top
        status = t("loop.status_passed") if passed_now else t("loop.status_started")
        attempts = str(entry["attempts"]) if entry.get("attempts") else "–"
        rows.append((step, status, _when(entry.get("passed_at")), attempts, f"{num(got)}/{num(top)}"))
    return rows


def drill_rows(repository: Path) -> list[tuple]:
    """The practice drills started in ``repository`` (a folder, or a folder of folders, with the attempt's
    ``.practice.json``): drill, folder, seed, points when a results file is beside it."""
    from grader.practice.grading import STATE
    from grader.report import RESULTS_FILE, num

    folders = []
    for first in sorted(repository.iterdir()) if repository.is_dir() else []:
        if not first.is_dir() or first.name.startswith("."):
            continue
        folders.append(first)
        try:
            folders += sorted(p for p in first.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            continue
    rows = []
    for folder in folders:
        try:
            state = json.loads((folder / STATE).read_text(encoding="utf-8"))
            drill = str(state["drill"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        points = "–"
        try:
            results = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
            points = f"{num(float(results['score']))}/{num(float(results['max_score']))}"
        except (OSError, ValueError, KeyError, TypeError):
            pass
        # Names from the file system and a file the learner may edit: shown, never obeyed (grader/text.py).
        rows.append((text.clean(drill, text.MAX_NAME, inline=True),
                     text.clean(str(folder.relative_to(repository)), text.MAX_NAME, inline=True),
                     text.clean(str(state.get("seed", "–")), text.MAX_NAME, inline=True), points))
    return rows


def progress_text(data: dict, repository: Path, from_results: dict[str, str] | None = None) -> str:
    from grader.stack.peek import table

    lines = [table([t("loop.col_step"), t("loop.col_status"), t("loop.col_passed_at"), t("loop.col_attempts"),
                    t("loop.col_points")], step_rows(data, from_results))]
    drills = drill_rows(repository)
    if drills:
        lines += ["", t("loop.drills_title"),
                  table([t("loop.col_drill"), t("loop.col_folder"), t("loop.col_seed"), t("loop.col_points")], drills)]
    return "\n".join(lines)


def show_progress(args) -> int:
    submission = submission_of(args)
    path = progress.progress_path(submission)
    data = _load(path)
    from_results = None
    if args.results:
        from_results = _results_file(Path(args.results))
        print(t("loop.progress_from", path=str(args.results)))
    else:
        print(t("loop.progress_from", path=str(path)))
        if not data["steps"]:
            print(t("loop.no_progress"))
    print(progress_text(data, progress.repository_of(submission), from_results))
    return 0


# -- reset -----------------------------------------------------------------------------------------
def stub_path(step: str) -> Path:
    return STUBS / f"{step}.py"


def backup_path(script: Path) -> Path:
    """``stepN.py.bak``, or the first of ``stepN.py.bak.1``, ``.bak.2``, … not taken yet."""
    backup = script.with_name(script.name + ".bak")
    number = 1
    while backup.exists():
        backup = script.with_name(f"{script.name}.bak.{number}")
        number += 1
    return backup


def _confirmed(question: str) -> bool:
    """y (or yes) on stdin; anything else, an empty line, no stdin at all or its end is no."""
    print(question, end="", flush=True)
    try:
        answer = sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError):
        answer = ""
    try:
        typed = sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        typed = False
    if not typed:  # an answer that came through a pipe was not echoed: end the question's line
        print()
    return answer.strip().lower() in ("y", "yes")


def reset(args) -> int:
    step = _step_or_none(args.step)
    if step is None:
        return 2
    stub = stub_path(step)
    script = submission_of(args) / f"{step}.py"
    if not script.parent.is_dir():
        print(t("loop.reset_no_folder", folder=str(script.parent)), file=sys.stderr)
        return 2
    exists = script.is_file()
    if exists and script.read_bytes() == stub.read_bytes():
        print(t("loop.reset_same", script=str(script)))
        return 0
    backup = backup_path(script) if exists else None
    question = (t("loop.reset_ask", script=str(script), backup=str(backup)) if exists
                else t("loop.reset_ask_missing", script=str(script)))
    if not args.yes and not _confirmed(question):
        print(t("loop.reset_kept", script=str(script)))
        return 1
    try:
        if backup is not None:
            os.replace(script, backup)
        shutil.copyfile(stub, script)
    except OSError as e:
        print(t("loop.reset_failed", script=str(script), error=f"{type(e).__name__}: {e}"), file=sys.stderr)
        return 1
    if backup is not None:
        print(t("loop.reset_done", script=str(script), backup=str(backup)))
    else:
        print(t("loop.reset_written", script=str(script)))
    return 0
