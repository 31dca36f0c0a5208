"""``python -m grader practice list | new ID [--seed N] --dir DEST | grade DEST | solve ID --seed N --dir DEST``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader import config
from grader.i18n import get_lang, set_lang, t

ROOT = Path(__file__).resolve().parents[2]


def add_parser(sub) -> None:
    practice = sub.add_parser("practice", help=t("help.practice"))
    actions = practice.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help=t("help.practice_list"))
    new = actions.add_parser("new", help=t("help.practice_new"))
    new.add_argument("drill", metavar="ID")
    new.add_argument("--seed", type=int, default=None, help=t("help.seed"))
    new.add_argument("--dir", required=True, type=Path, metavar="DEST")
    grade = actions.add_parser("grade", help=t("help.practice_grade"))
    grade.add_argument("dest", type=Path, metavar="DEST")
    from grader import options

    # Defaults None: _grade falls back on the environment (HANDSON_STACK, …), then on the defaults the help shows.
    options.add_to_argparse(grade, "stack", lang=get_lang())
    grade.add_argument("--grade-json", type=Path, default=None, metavar="PATH", help=t("help.grade_json"))
    options.add_to_argparse(grade, "submission_timeout", lang=get_lang())
    options.add_to_argparse(grade, "sandbox", lang=get_lang())
    solve = actions.add_parser("solve", help=t("help.practice_solve"))
    solve.add_argument("drill", metavar="ID")
    solve.add_argument("--seed", type=int, required=True, help=t("help.seed_required"))
    solve.add_argument("--dir", required=True, type=Path, metavar="DEST")
    for action in (new, grade, solve, actions.choices["list"]):
        options.add_to_argparse(action, "lang", lang=get_lang(), dest="practice_lang")


def main(args) -> int:
    from grader.practice.grading import PracticeError

    lang = getattr(args, "practice_lang", None) or args.lang or os.environ.get("HANDSON_LANG")
    if lang is None and args.action == "grade":
        lang = _recorded_lang(args.dest)  # the language the learner's TASK.md is in
    set_lang(lang)
    try:
        return {"list": _list, "new": _new, "grade": _grade, "solve": _solve}[args.action](args)
    except PracticeError as e:
        print(str(e), file=sys.stderr)
        return 2


def _recorded_lang(dest: Path) -> str | None:
    import json

    from grader.practice.grading import STATE

    try:
        return json.loads((dest / STATE).read_text(encoding="utf-8")).get("lang")
    except (OSError, ValueError, AttributeError):
        return None


def _list(_args) -> int:
    from grader.practice import all_drills

    for drill_id, drill in all_drills().items():
        print(f"{drill_id}\t{drill.title()}")
    return 0


def _new(args) -> int:
    from grader.practice.grading import drill_or_error, new_seed, write_attempt

    drill = drill_or_error(args.drill)
    seed = args.seed if args.seed is not None else new_seed()
    dest = args.dir.resolve()
    wrote = write_attempt(drill, seed, dest, drill.stub(seed), keep_script=True)
    print(t("practice.written", drill=drill.id, seed=seed, task=dest / "TASK.md", script=dest / f"{drill.id}.py"))
    if not wrote:
        print(t("practice.kept", script=dest / f"{drill.id}.py"))
    return 0


def _solve(args) -> int:
    from grader.practice.grading import PracticeError, drill_or_error, write_attempt

    drill = drill_or_error(args.drill)
    if not drill.has_solution:
        raise PracticeError(t("practice.no_solution", drill=drill.id))
    dest = args.dir.resolve()
    write_attempt(drill, args.seed, dest, drill.solution(args.seed), keep_script=False)
    print(t("practice.solved", drill=drill.id, seed=args.seed, script=dest / f"{drill.id}.py"))
    return 0


def _grade(args) -> int:
    from grader.practice.grading import grade, read_attempt, render, write_results
    from grader.stack import StackError, choose
    from grader.stack.serve import stack_client

    dest = args.dest.resolve()
    read_attempt(dest)  # bad input fails before a stack starts
    name, reason = choose(config.outside_pytest("stack", args.stack))
    print(t("header.stack", backend=name, reason=reason), flush=True)
    backend = stack_client(name, timeout=float(config.outside_pytest("stack_timeout")))
    try:
        info = backend.start()
        timeout = float(config.outside_pytest("submission_timeout", args.submission_timeout))
        graded = grade(dest, info, ROOT / "data", timeout=timeout,
                       sandbox_mode=config.outside_pytest("sandbox", args.sandbox))
    except StackError as e:
        print(e.describe(), file=sys.stderr)
        return 3
    finally:
        backend.stop()
    print("\n".join(render(graded)))
    if args.grade_json:
        write_results(graded, args.grade_json.resolve(), info.tracking_uri)
    return 0 if graded.passed else 1
