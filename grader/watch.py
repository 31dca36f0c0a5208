"""``python -m grader watch``: save a script, see its verdict, see how far you are.

The loop: the stack is the running ``stack up`` (its recorded stack file), or one this command starts in a
process of its own (grader/stack/serve.py's ``stack_client``) and stops when it ends ('q', Ctrl-C, SIGTERM,
SIGHUP). ``watchfiles`` reports the saved files; a saved ``stepN.py`` of the submission folder, or the script
of a practice drill folder (a folder with ``.practice.json`` under the repository, found when watch starts),
is graded once nothing changed for ``DEBOUNCE`` seconds, by the very command a learner would type:
``python -m pytest checks -k stepN --stack external --grade-json TMP`` (``practice grade DIR`` for a drill),
with the stack file in ``HANDSON_STACK_FILE``. The verdicts come from that results file, the progress bar
from ``.handson/progress.json``, which the plugin writes after the grading (grader/progress.py).

Keys: ``h`` the next hint level for the first failing check (grader/loop.py's levels, kept in the same
record), ``r`` grade again, ``q`` quit. On a terminal the screen is redrawn in raw mode (restored on every
way out); with stdin not a terminal, each screen is printed as plain lines, never cleared.

Kept testable: ``target_of`` (which file means what), ``settle`` / ``wait_for`` (the debounce),
``read_results`` (the results file) and ``render`` (a ``Screen`` to its lines) are pure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader import catalog, config, loop, progress, text
from grader.i18n import get_lang, set_lang, t

ROOT = Path(__file__).resolve().parents[1]
DEBOUNCE = 0.3  # seconds without a change before a saved file is graded
BAR = 20  # characters of the progress bar
MAX_BLOCK = 40  # lines of a failing check's block shown
MARKS = {"passed": "✔", "failed": "✘", "not_graded": "–", "error": "!"}
_FAILING = ("failed", "not_graded")
QUIT_KEYS = ("q", "Q", "\x03", "\x04")  # q, Ctrl-C and Ctrl-D (raw mode hands them over as bytes)


class Stopped(BaseException):
    """SIGTERM or SIGHUP: leave the loop the way 'q' does (the terminal restored, the stack stopped)."""


# -- pure parts ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Target:
    """What one grading grades: a step (``name`` "step2") or a drill folder (``name`` its path)."""

    kind: str  # "step" or "drill"
    name: str

    def label(self, repository: Path | None = None) -> str:
        if self.kind == "step":
            return self.name
        folder = Path(self.name)
        try:
            shown = str(folder.relative_to(repository)) if repository else str(folder)
        except ValueError:
            shown = str(folder)
        return text.clean(shown, text.MAX_NAME, inline=True)


def target_of(path, submission: Path, drills=()) -> Target | None:
    """The target a saved file belongs to: ``stepN.py`` directly in ``submission``, or a drill's script
    (``<drill id>.py`` directly in one of the ``drills`` folders, given as {folder: drill id}); else None."""
    path = Path(path)
    if path.parent == Path(submission) and path.suffix == ".py" and path.stem in catalog.STEPS:
        return Target("step", path.stem)
    drills = dict(drills) if not isinstance(drills, dict) else drills
    drill = drills.get(path.parent)
    if drill is not None and path.name == f"{drill}.py":
        return Target("drill", str(path.parent))
    return None


def settle(pending: dict, now: float, delay: float = DEBOUNCE) -> tuple[list, dict]:
    """(the targets whose last change is at least ``delay`` old, oldest first; the ones still settling)."""
    due = sorted((when, target) for target, when in pending.items() if now - when >= delay)
    return [target for _, target in due], {k: v for k, v in pending.items() if now - v < delay}


def wait_for(pending: dict, now: float, delay: float = DEBOUNCE) -> float | None:
    """Seconds until the next pending target settles (0 when one has); None when nothing is pending."""
    if not pending:
        return None
    return max(0.0, min(pending.values()) + delay - now)


@dataclasses.dataclass
class Row:
    check: str
    title: str
    status: str
    message: list[str]


def read_results(data: dict) -> list[Row]:
    """The checks a results file (``--grade-json``) holds, in its order; learner text cleaned."""
    rows = []
    for test in data.get("tests") or []:
        extra = test.get("extra_data") or {}
        check = str(extra.get("check") or str(test.get("name", "")).split(" ", 1)[0])
        name = str(test.get("name", ""))
        title = name[len(check):].strip() if name.startswith(check) else name
        status = str(extra.get("status") or test.get("status") or "failed")
        lines = [text.clean(line, text.MAX_LINE, inline=True) for line in str(test.get("output") or "").splitlines()]
        rows.append(Row(text.clean(check, text.MAX_NAME, inline=True), text.clean(title, text.MAX_NAME, inline=True),
                        status if status in MARKS else "failed", lines))
    return rows


def rows_of_record(record: dict, step: str) -> list[Row]:
    """A step's checks as the progress record last saw them (no messages): the screen before any grading."""
    checks = (record.get("steps", {}).get(step) or {}).get("checks") or {}
    return [Row(c.id, c.title(), checks[c.id], []) for c in catalog.CHECKS if c.step == step and c.id in checks]


def first_failing(rows: list[Row]) -> Row | None:
    return next((r for r in rows if r.status in _FAILING), None)


def progress_bar(done: int, total: int, width: int = BAR) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "█" * filled + "░" * (width - filled) + "]"


def step_marks(record: dict) -> list[tuple[str, str]]:
    """(step, mark) per step: ✔ all its checks passed last time, ✘ graded and not, · not graded yet."""
    marks = []
    for step in catalog.STEPS:
        checks = (record.get("steps", {}).get(step) or {}).get("checks") or {}
        mine = [c.id for c in catalog.CHECKS if c.step == step]
        if not checks:
            marks.append((step, "·"))
        else:
            marks.append((step, "✔" if all(checks.get(c) == progress.PASSED for c in mine) else "✘"))
    return marks


def first_open_step(record: dict) -> str:
    """The first step not passed yet (step1 for a fresh start; the last step when all passed)."""
    return next((step for step, mark in step_marks(record) if mark != "✔"), catalog.STEPS[-1])


@dataclasses.dataclass
class Screen:
    folder: str
    stack: str
    record: dict
    drills: int = 0
    target: str | None = None  # its label
    rows: list[Row] | None = None  # None: not graded in this session (the record's statuses, if any, shown)
    graded_at: str | None = None
    status: str = ""  # what is going on: grading…, saved …, an error
    detail: list[str] = dataclasses.field(default_factory=list)  # a failed grading's last output lines
    hint: list[str] = dataclasses.field(default_factory=list)


def render(screen: Screen) -> list[str]:
    """The whole screen as lines, in the current language (grader/i18n.py)."""
    record = screen.record
    marks = step_marks(record)
    done = sum(1 for _, mark in marks if mark == "✔")
    from grader.report import num

    got = 0.0
    for step in catalog.STEPS:
        try:
            got += float((record.get("steps", {}).get(step) or {}).get("points") or 0)
        except (TypeError, ValueError):  # a record edited by hand
            pass
    top = sum(c.points for c in catalog.CHECKS)
    lines = [t("watch.title", folder=screen.folder), t("watch.stack", stack=screen.stack), "",
             t("watch.progress", bar=progress_bar(done, len(marks)), done=done, total=len(marks), points=num(got), max=num(top)),
             "  " + "  ".join(f"{step} {mark}" for step, mark in marks)]
    if screen.drills:
        lines.append(t("watch.drills", count=screen.drills))
    lines.append("")
    if screen.target is None:
        lines.append(t("watch.idle"))
    else:
        rows = screen.rows
        if rows is None:
            lines.append(t("watch.not_graded_yet", target=screen.target))
        elif not rows:
            lines.append(t("watch.no_checks", target=screen.target))
        else:
            passed = sum(1 for r in rows if r.status == "passed")
            lines.append(t("watch.summary", target=screen.target, passed=passed, total=len(rows))
                         + (" " + t("watch.graded_at", time=screen.graded_at) if screen.graded_at else ""))
            lines += [f"  {MARKS.get(r.status, '?')} {r.check} — {r.title}" for r in rows]
            failing = first_failing(rows)
            if failing is not None and failing.message:
                block = failing.message[:MAX_BLOCK]
                if len(failing.message) > MAX_BLOCK:
                    block.append(text.more(len(failing.message) - MAX_BLOCK))
                lines += [""] + ["  " + line for line in block]
            elif failing is None and rows and any(r.status == "error" for r in rows):
                lines += ["", t("watch.errors")]
    if screen.hint:
        lines += [""] + screen.hint
    if screen.detail:
        lines += [""] + ["  " + text.OUTPUT_MARK + text.clean(line, text.MAX_LINE, inline=True)
                         for line in screen.detail]
    lines += ["", screen.status or t("watch.waiting"), t("watch.keys")]
    return lines


def hint_lines(record: dict, rows: list[Row] | None, target: Target | None) -> tuple[list[str], str | None, int]:
    """The next hint for the target's first failing check: (lines, check id, level reached) — the id None
    when nothing is to be recorded. grader/loop.py's levels, kept in the record's ``hints``."""
    if target is None or rows is None:
        return [t("watch.hint_nothing")], None, 0
    if target.kind != "step":
        return [t("watch.hint_drill")], None, 0
    failing = first_failing(rows)
    if failing is None or failing.check not in catalog.BY_ID:
        return [t("watch.hint_nothing")], None, 0
    check = catalog.get(failing.check)
    if check.hidden:
        return [t("loop.hidden", check=check.id)], None, 0
    reached = record.get("hints", {}).get(check.id)
    reached = reached if isinstance(reached, int) and reached in loop.LEVELS else 0
    level = min(reached + 1, loop.LEVELS[-1])
    lines = [f"{check.id} — " + t("loop.hint_level", level=level, top=loop.LEVELS[-1], what=t(f"loop.level{level}"))]
    lines += ["  " + line for line in loop.hint_text(check.id, level).splitlines()]
    return lines, check.id, max(reached, level)


def _level(record: dict, check_id: str) -> int:
    reached = record.get("hints", {}).get(check_id)
    return reached if isinstance(reached, int) and reached in loop.LEVELS else 0


def drill_folders(repository: Path) -> dict[Path, str]:
    """{folder: drill id} of the practice drills started in ``repository`` (one or two levels down)."""
    from grader.practice.grading import STATE

    found = {}
    candidates = []
    for first in sorted(repository.iterdir()) if repository.is_dir() else []:
        if first.is_dir() and not first.name.startswith(".") and not first.is_symlink():
            candidates.append(first)
            try:
                candidates += sorted(p for p in first.iterdir()
                                     if p.is_dir() and not p.name.startswith(".") and not p.is_symlink())
            except OSError:
                continue
    for folder in candidates:
        try:
            drill = json.loads((folder / STATE).read_text(encoding="utf-8"))["drill"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(drill, str) and drill.isidentifier():
            found[folder.resolve()] = drill
    return found


# -- the terminal ------------------------------------------------------------------------------------
class Terminal:
    """Raw mode on a real terminal (restored by ``restore``, whatever happens), plain lines otherwise."""

    def __init__(self, stdin=None, stdout=None):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        try:
            self.fd = self.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.tty = self.fd is not None and os.isatty(self.fd) and self.stdout.isatty()
        self.saved = None
        self.last: list[str] | None = None

    def raw(self) -> None:
        if self.tty:
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
            self.stdout.write("\x1b[?25l")  # hide the cursor while the screen is ours

    def restore(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.saved = None
            self.stdout.write("\x1b[?25h")
            self.stdout.flush()

    def draw(self, lines: list[str]) -> None:
        if lines == self.last:
            return
        self.last = list(lines)
        if self.tty:
            # raw mode: no newline translation, so every line ends with \r\n; the screen is cleared first
            self.stdout.write("\x1b[H\x1b[2J" + "\r\n".join(lines) + "\r\n")
        else:
            self.stdout.write("\n".join(lines) + "\n" + "-" * 40 + "\n")
        self.stdout.flush()

    def say(self, line: str) -> None:
        self.stdout.write(line + ("\r\n" if self.saved is not None else "\n"))
        self.stdout.flush()


# -- the stack ---------------------------------------------------------------------------------------
def _stack(name: str, out: Terminal):
    """(environment for the gradings, the stack as the screen names it, what to stop at the end or None)."""
    from grader.stack import choose, external
    from grader.stack.serve import stack_client

    if name in ("auto", "external"):
        info = external.recorded_stack()
        if info is not None and external.healthy(info):
            return {"HANDSON_STACK_FILE": str(external.stack_file())}, \
                t("watch.stack_reused", uri=info.tracking_uri), None
    name, reason = choose(name)
    if name == "external":  # a hand-started compose stack, or none (the grading then says why)
        external.ExternalStack().start()  # StackError when there is none: told before the screen starts
        return {}, t("watch.stack_reused", uri="http://127.0.0.1:5000"), None
    out.say(t("watch.starting", backend=name, reason=reason))
    folder = Path(tempfile.mkdtemp(prefix="handson-watch-"))
    # One learner's own stack, as `stack up` starts it: MLflow's UI and hand-run scripts need no login.
    client = stack_client(name, folder, timeout=float(config.outside_pytest("stack_timeout")), access_control=False)
    client.folder_to_remove = folder
    try:
        info = client.start()
    except BaseException:
        _stop_stack(client)
        raise
    return {"HANDSON_STACK_FILE": str(folder / "stack.json")}, \
        t("watch.stack_started", backend=name, uri=info.tracking_uri), client


def _stop_stack(client) -> None:
    try:
        client.stop()
    finally:
        folder = getattr(client, "folder_to_remove", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


# -- one grading -------------------------------------------------------------------------------------
class Grading:
    """One grading in a child process; ``done`` is written to the wake pipe when it ends."""

    def __init__(self, target: Target, submission: Path, env: dict, lang: str, wake: int):
        self.target = target
        self.folder = Path(tempfile.mkdtemp(prefix="handson-grading-"))
        from grader.report import RESULTS_FILE

        self.results = self.folder / RESULTS_FILE
        self.log = self.folder / "output.log"
        if target.kind == "step":
            command = [sys.executable, "-m", "pytest", "checks", "-k", target.name, "-q", "--stack", "external",
                       f"--submission={submission}", f"--grade-json={self.results}", "--lang", lang]
        else:
            command = [sys.executable, "-m", "grader", "practice", "grade", target.name, "--stack", "external",
                       "--grade-json", str(self.results), "--lang", lang]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._wait, args=(wake,), daemon=True, name="handson-grading").start()

    def _wait(self, wake: int) -> None:
        self.proc.wait()
        _wake(wake)

    def finished(self) -> bool:
        return self.proc.poll() is not None

    def outcome(self) -> tuple[list[Row] | None, list[str]]:
        """(the checks graded, or None when no results file was written; the output's last lines then)."""
        try:
            return read_results(json.loads(self.results.read_text(encoding="utf-8"))), []
        except (OSError, ValueError, AttributeError, TypeError):
            try:
                tail = self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
            except OSError:
                tail = []
            return None, tail

    def cancel(self) -> None:
        from grader.stack.base import kill_group

        if self.proc.poll() is None:
            kill_group(self.proc, timeout=5.0)
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# -- the loop ----------------------------------------------------------------------------------------
def add_parser(sub) -> None:
    from grader import options

    lang = get_lang()
    watch = sub.add_parser("watch", help=t("help.watch"))
    options.add_to_argparse(watch, "stack", lang=lang)
    options.add_to_argparse(watch, "submission", lang=lang)
    options.add_to_argparse(watch, "lang", lang=lang, dest="watch_lang")


def _watcher(paths: list[Path], stop: threading.Event, changes: queue.Queue, wake: int) -> None:
    import watchfiles

    def wanted(change, path: str) -> bool:
        return change != watchfiles.Change.deleted and path.endswith(".py")

    # watchfiles groups a burst of events (step: 50 ms quiet, at most debounce ms); the screen's own
    # debounce (settle) waits DEBOUNCE after the last one.
    try:
        for batch in watchfiles.watch(*paths, watch_filter=wanted, debounce=200, step=50, stop_event=stop,
                                      raise_interrupt=False, recursive=False):
            now = time.monotonic()
            for _change, path in batch:
                changes.put((now, Path(path)))
            _wake(wake)
    except Exception as e:  # noqa: BLE001 - told on the screen (no inotify watches left, a folder gone, …)
        changes.put((None, f"{type(e).__name__}: {e}"))
        _wake(wake)


def _wake(fd: int) -> None:
    try:
        os.write(fd, b"w")
    except OSError:
        pass


def main(args) -> int:
    set_lang(getattr(args, "watch_lang", None) or args.lang or os.environ.get("HANDSON_LANG"))
    submission = loop.submission_of(args)
    if not submission.is_dir():
        print(t("loop.reset_no_folder", folder=str(submission)), file=sys.stderr)
        return 2
    from grader.stack import StackError

    out = Terminal()

    def on_signal(signum, _frame):
        raise Stopped(signum)

    previous = {name: signal.signal(getattr(signal, name), on_signal) for name in ("SIGTERM", "SIGHUP")}
    client = None
    try:
        try:
            env, stack_text, client = _stack(config.outside_pytest("stack", args.stack), out)
        except StackError as e:
            print(e.describe(), file=sys.stderr)
            return 3
        return _loop(submission, env, stack_text, out, client)
    except (Stopped, KeyboardInterrupt):
        return 0
    finally:
        out.restore()
        if client is not None:
            # a second SIGTERM must not cut the stack's stop short
            for name in ("SIGTERM", "SIGHUP", "SIGINT"):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
            out.say(t("watch.stopping"))
            _stop_stack(client)
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
        out.say(t("watch.ended"))


def _loop(submission: Path, env: dict, stack_text: str, out: Terminal, client=None) -> int:
    repository = progress.repository_of(submission)
    record_path = progress.progress_path(submission)
    drills = drill_folders(repository)
    record, _ = progress.load(record_path)
    screen = Screen(folder=text.clean(str(submission), text.MAX_NAME, inline=True), stack=stack_text, record=record,
                    drills=len(drills))
    target: Target | None = Target("step", first_open_step(record))
    screen.target = target.label()
    rows: list[Row] | None = rows_of_record(record, target.name) or None
    screen.rows = rows
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    stop = threading.Event()
    changes: queue.Queue = queue.Queue()
    paths = [submission, *drills]
    threading.Thread(target=_watcher, args=(paths, stop, changes, wake_w), daemon=True, name="handson-watch").start()
    pending: dict[Target, float] = {}
    wanted: list[Target] = []
    grading: Grading | None = None
    keys_open = out.fd is not None
    lang = get_lang()
    out.raw()
    try:
        while True:
            if grading is None and wanted:
                next_target = wanted.pop(0)
                grading = Grading(next_target, submission, env, lang, wake_w)
                target = next_target
                if screen.target != target.label(repository):
                    screen.rows, screen.graded_at = None, None
                screen.target = target.label(repository)
                screen.status, screen.detail, screen.hint = t("watch.grading", target=screen.target), [], []
            out.draw(render(screen))
            timeout = wait_for(pending, time.monotonic())
            fds = [wake_r] + ([out.fd] if keys_open else [])
            try:
                readable, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                continue
            if wake_r in readable:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
            while True:
                try:
                    when, path = changes.get_nowait()
                except queue.Empty:
                    break
                if when is None:  # the watcher stopped: r still grades
                    screen.status = t("watch.watcher_failed", error=path)
                    continue
                saved = target_of(path, submission, drills)
                if saved is not None:
                    pending[saved] = when
            due, pending = settle(pending, time.monotonic())
            for saved in due:
                if saved not in wanted:
                    wanted.append(saved)
            if grading is not None and grading.finished():
                found, tail = grading.outcome()
                grading.cleanup()
                screen.record, _ = progress.load(record_path)
                if found is None:
                    screen.status = t("watch.grading_failed", target=screen.target, code=grading.proc.returncode)
                    screen.detail = tail
                else:
                    rows = found
                    screen.rows = rows
                    screen.graded_at = time.strftime("%H:%M:%S")
                    screen.status = ""
                grading = None
                gone = client.exited() if client is not None and hasattr(client, "exited") else None
                if gone is not None:  # the stack's own process ended (killed): gradings cannot work any more
                    screen.status = t("watch.stack_gone", code=gone)
            if keys_open and out.fd in readable:
                data = os.read(out.fd, 64)
                if not data:
                    keys_open = False  # stdin ended (a pipe): keep watching; SIGTERM or Ctrl-C ends it
                    continue
                for key in data.decode("utf-8", errors="replace"):
                    if key in QUIT_KEYS:
                        if grading is not None:
                            grading.cancel()
                        return 0
                    if key in ("r", "R") and target is not None and target not in wanted:
                        wanted.append(target)
                    if key in ("h", "H"):
                        lines, check_id, reached = hint_lines(screen.record, screen.rows, target)
                        screen.hint = lines
                        if check_id is not None:
                            # read afresh: a grading may have just written the record
                            screen.record, _ = progress.load(record_path)
                            screen.record["hints"][check_id] = max(reached, _level(screen.record, check_id))
                            try:
                                progress.save(record_path, screen.record)
                            except OSError as e:
                                screen.status = t("loop.progress_not_written", path=str(record_path),
                                                  error=f"{type(e).__name__}: {e}")
    finally:
        stop.set()
        if grading is not None:
            grading.cancel()
        # The wake pipe stays open: a thread may still write to it, and a closed number could be reused by
        # another file meanwhile. The process ends right after.
