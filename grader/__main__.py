"""``python -m grader``: start/stop/look inside a grading stack, merge the reports of shards, export the learner release,
practice drills, the learner loop (watch, hint, progress, reset), the class's similarity report."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from grader import config
from grader.i18n import cause, get_lang, set_lang, t


def _stack_up(args) -> int:
    from grader.stack import STARTABLE, make_backend, serve
    from grader.stack.external import stack_file

    options = {}
    if args.backend == "docker":
        options["compose_files"] = [Path(f).resolve() for f in args.compose_file or []]
        missing = [str(f) for f in options["compose_files"] if not f.is_file()]
        if missing:
            print(f"--compose-file {missing[0]}: no such file", file=sys.stderr)
            return 2
    if args.backend in STARTABLE:
        # One learner's own stack: the guide's hand-run commands and the MLflow UI work without a login.
        # Instructors sharing it across a class turn MLflow's access control on.
        options["access_control"] = args.access_control
    backend = make_backend(args.backend, ports={"mlflow": args.mlflow_port, "mysql": args.mysql_port,
                                                "minio": args.minio_port}, timeout=args.stack_timeout, **options)
    print(t("cli.starting", backend=args.backend), flush=True)
    # The same owner loop as the stack the grader starts for itself (grader/stack/serve.py), told in words.
    return serve.hold(backend, stack_file(), _Terminal())


class _Terminal:
    """``stack up`` tells the person at the terminal what its stack does."""

    def ready(self, info, path) -> None:
        print(t("cli.ready", uri=info.tracking_uri, path=path), flush=True)

    def failed(self, error) -> None:
        print(error.describe(), file=sys.stderr)

    def event(self, event: dict) -> None:
        key = "cli.restarted" if event.get("restarted") else "cli.died"
        print(t(key, service=event["service"], cause=cause(event.get("cause")) or t("cli.unknown_cause")),
              file=sys.stderr, flush=True)

    def stopping(self) -> None:
        print(t("cli.stopping"), flush=True)

    def stopped(self) -> None:
        print(t("cli.stopped"), flush=True)


def _stack_down(_args) -> int:
    from grader.stack.base import alive
    from grader.stack.external import recorded_stack, remove_stack_file

    info = recorded_stack()
    if info is None or not info.owner_pid:
        print(t("cli.none"))
        remove_stack_file()
        return 0
    if alive(info.owner_pid):
        os.kill(info.owner_pid, signal.SIGTERM)
        for _ in range(300):
            if not alive(info.owner_pid):
                break
            time.sleep(0.1)
    remove_stack_file()
    print(t("cli.stopped"))
    return 0


def _merge(args) -> int:
    from grader.merge import merge

    return merge(args)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value}: at least 1")
    return number


def _class_workflow(args, parser) -> int:
    from grader import class_workflow

    if args.gradebook_format and not args.roster:
        parser.error("--gradebook-format needs --roster")
    text = class_workflow.workflow(args.shards, class_dir=args.class_dir, repos=args.repos, roster=args.roster,
                                   lms=args.gradebook_format, submission_timeout=args.submission_timeout)
    if args.write:
        path = Path(__file__).resolve().parents[1] / class_workflow.WORKFLOW
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path, file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _export(args) -> int:
    from grader.export import export

    export(Path(__file__).resolve().parents[1], Path(args.dest))
    print(f"learner release written to {args.dest}")
    return 0


def _lang_of(argv: list[str]) -> str | None:
    """``--lang`` from the command line before parsing it, so that ``--help`` speaks that language too."""
    for i, arg in enumerate(argv):
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
    return os.environ.get("HANDSON_LANG")


def build_parser() -> argparse.ArgumentParser:
    """Every command and option, with help in the current language."""
    from grader import options

    lang = get_lang()
    parser = argparse.ArgumentParser(prog="python -m grader", description=t("help.description"))
    options.add_to_argparse(parser, "lang", lang=lang)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help=t("help.stack"))
    stack_sub = stack.add_subparsers(dest="action", required=True)
    up = stack_sub.add_parser("up", help=t("help.stack_up"))
    up.add_argument("--backend", choices=options.STARTABLE, default=None, help=t("help.backend"))
    # --timeout: the name this command had before it took pytest's --stack-timeout
    options.add_to_argparse(up, "stack_timeout", "--timeout", lang=lang, store_default=True)
    options.add_to_argparse(up, "compose_file", lang=lang)
    up.add_argument("--access-control", action="store_true",
                    help=t("help.access_control"))
    for name in options.PORTS:
        options.add_to_argparse(up, f"{name}_port", lang=lang)
    stack_sub.add_parser("down", help=t("help.stack_down"))
    stack_sub.add_parser("info", help=t("help.stack_info"))
    sql = stack_sub.add_parser("sql", help=t("help.stack_sql"))
    sql.add_argument("statement", nargs="*", help=t("help.statement"))
    ls = stack_sub.add_parser("ls", help=t("help.stack_ls"))
    ls.add_argument("prefix", nargs="?", default="", help=t("help.prefix"))

    merge = sub.add_parser("merge", help=t("help.merge"))
    merge.add_argument("inputs", nargs="+", help=t("help.merge_inputs"))
    merge.add_argument("-o", "--output", default=None, metavar="PATH", help=t("help.merge_output"))
    options.add_to_argparse(merge, "gradebook_format", lang=lang, store_default=True)
    options.add_to_argparse(merge, "roster", lang=lang)
    merge.add_argument("--grade-json", default=None, metavar="DIR", help=t("help.merge_grade_json"))
    merge.add_argument("--junitxml", default=None, metavar="PATH", help=t("help.merge_junitxml"))
    merge.add_argument("--html-report", default=None, metavar="DIR", help=t("help.merge_html_report"))
    merge.add_argument("--submissions", default=None, metavar="DIR", help=t("help.merge_submissions"))
    merge.add_argument("--learners", default=None, metavar="A,B,…", help=t("help.merge_learners"))

    cls = sub.add_parser("classroom", help=t("help.classroom"))
    cls.add_argument("--write", action="store_true", help=t("help.classroom_write"))
    cls.add_argument("--class-workflow", action="store_true", help=t("help.class_workflow"))
    from grader import class_workflow

    cls.add_argument("--shards", type=_positive, default=class_workflow.SHARDS, metavar="N",
                     help=t("help.class_shards", default=class_workflow.SHARDS))
    where = cls.add_mutually_exclusive_group()
    where.add_argument("--class", dest="class_dir", default=class_workflow.CLASS_DIR, metavar="DIR",
                       help=t("help.class_dir", default=class_workflow.CLASS_DIR))
    where.add_argument("--repos", default=None, metavar="FILE", help=t("help.class_repos"))
    cls.add_argument("--roster", default=None, metavar="PATH", help=t("help.class_roster"))
    lms_formats = tuple(f for f in options.GRADEBOOK_FORMATS if f != config.GRADEBOOK_FORMAT)  # canvas, moodle
    cls.add_argument("--gradebook-format", choices=lms_formats, default=None, help=t("help.class_lms"))
    cls.add_argument("--submission-timeout", type=_positive, default=class_workflow.SUBMISSION_TIMEOUT, metavar="S",
                     help=t("help.class_timeout", default=class_workflow.SUBMISSION_TIMEOUT))
    clone = sub.add_parser("clone-class", help=t("help.clone_class"))
    clone.add_argument("list", help=t("help.clone_list"))
    clone.add_argument("--dest", required=True, metavar="DIR", help=t("help.clone_dest"))
    ver = sub.add_parser("verdict", help=t("help.verdict"))
    ver.add_argument("results_json")
    ver.add_argument("check")

    exp = sub.add_parser("export", help=t("help.export"))
    exp.add_argument("dest")

    from grader.practice import cli as practice_cli

    practice_cli.add_parser(sub)
    from grader import loop

    loop.add_parsers(sub)
    from grader import watch

    watch.add_parser(sub)
    from grader import similarity

    similarity.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    set_lang(_lang_of(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "stack" and args.action == "up":
        from grader.stack import external

        running = external.recorded_stack()
        if running is not None and external.healthy(running):
            print(t("cli.already", uri=running.tracking_uri), file=sys.stderr)
            return 1
        if args.backend is None:
            from grader.stack import choose

            # As --stack auto, without the recorded stack (there is none): docker when it can get its images.
            args.backend = choose("auto", args.compose_file or ())[0]
        return _stack_up(args)
    if args.command == "stack" and args.action in ("info", "sql", "ls"):
        from grader.stack import peek

        return peek.main(args.action, args)
    if args.command == "stack":
        return _stack_down(args)
    if args.command == "practice":
        from grader.practice import cli as practice_cli

        return practice_cli.main(args)
    if args.command == "watch":
        from grader import watch

        return watch.main(args)
    if args.command in ("hint", "progress", "reset"):
        from grader import loop

        return loop.main(args)
    if args.command == "merge":
        return _merge(args)
    if args.command == "similarity":
        from grader import similarity

        return similarity.main(args)
    if args.command == "clone-class":
        from grader.clone import clone_class

        return clone_class(Path(args.list), Path(args.dest))
    if args.command == "classroom" and args.class_workflow:
        return _class_workflow(args, parser)
    if args.command == "classroom":
        from grader import classroom

        text = classroom.workflow()
        if args.write:
            path = Path(__file__).resolve().parents[1] / classroom.WORKFLOW
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    if args.command == "verdict":
        from grader import classroom

        return classroom.verdict(Path(args.results_json), args.check)
    return _export(args)


def run(argv: list[str] | None = None) -> int:
    """``main``, ending quietly when whoever reads the output stops reading (``stack ls | head -1``): no
    BrokenPipeError traceback, for every command. The exit status is the one a shell gives a process that a
    closed pipe stopped (128 + SIGPIPE)."""
    try:
        code = main(argv)
        sys.stdout.flush()  # inside the guard: a closed pipe often shows only at this last flush
        return code
    except BrokenPipeError:
        # Python's own recipe (docs: "Note on SIGPIPE"): stdout goes to devnull, so the interpreter's flush
        # at exit finds nothing left to write to the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + int(getattr(signal, "SIGPIPE", 13))


if __name__ == "__main__":
    sys.exit(run())
