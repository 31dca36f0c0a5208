"""`python -m grader watch` (grader/watch.py): the pure parts (which saved file grades what, the debounce,
the results file, the screen in both languages), the loop with a stand-in grading (real file events, real
keys through a pipe and a pseudo-terminal), the command's own way out (q, SIGTERM) on a stand-in stack that
only answers /health — and, marked realstack, the whole loop in tmux on an embedded stack it starts itself."""

import http.server
import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import IN_CI
from grader import catalog, i18n, progress, watch
from grader.messages import MESSAGES

ROOT = Path(__file__).resolve().parents[1]
STEP1 = [c for c in catalog.CHECKS if c.step == "step1"]


def make_repo(base: Path) -> Path:
    """A learner's repository as far as watch reads it: checks/ beside exercises/ (the stubs)."""
    repo = base / "repo"
    (repo / "checks").mkdir(parents=True)
    shutil.copytree(ROOT / "exercises", repo / "exercises")
    return repo


def results_file(statuses: dict, output: dict | None = None) -> dict:
    """A results file as `pytest --grade-json` writes it, for the given check -> status."""
    output = output or {}
    return {"tests": [{"name": f"{check} {catalog.get(check).title() if check in catalog.BY_ID else 'a drill check'}",
                       "status": "passed" if status == "passed" else "failed", "output": output.get(check, ""),
                       "extra_data": {"check": check, "status": status}} for check, status in statuses.items()]}


FAILING_MESSAGE = ("step1.experiment — title\n  expected: an experiment\n  found:    none\n"
                   "  hint:     mlflow.set_experiment\n    | printed \x1b[2J\x1b]0;owned\x07 by the script\r")


# -- which file grades what --------------------------------------------------------------------------------
def test_a_step_script_of_the_submission_folder_is_its_step(tmp_path):
    sub = tmp_path / "exercises"
    assert watch.target_of(sub / "step3.py", sub) == watch.Target("step", "step3")
    assert watch.target_of(sub / "step6.py", sub) is None
    assert watch.target_of(sub / "notes.py", sub) is None
    assert watch.target_of(sub / "step3.py.bak", sub) is None
    assert watch.target_of(sub / "deeper" / "step3.py", sub) is None
    assert watch.target_of(tmp_path / "step3.py", sub) is None


def test_a_drill_script_is_its_drill_folder_and_only_the_drill_script(tmp_path):
    drill = tmp_path / "drills" / "one"
    drills = {drill: "log_params"}
    assert watch.target_of(drill / "log_params.py", tmp_path / "exercises", drills) == watch.Target("drill", str(drill))
    assert watch.target_of(drill / "helper.py", tmp_path / "exercises", drills) is None
    assert watch.target_of(tmp_path / "drills" / "log_params.py", tmp_path / "exercises", drills) is None


def test_drill_folders_are_found_one_and_two_levels_down(tmp_path):
    for folder, drill in ((tmp_path / "d1", "log_params"), (tmp_path / "practice" / "d2", "tags")):
        folder.mkdir(parents=True)
        (folder / ".practice.json").write_text(json.dumps({"drill": drill, "seed": 1}))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / ".practice.json").write_text("{not json")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / ".practice.json").write_text(json.dumps({"drill": "../../etc/passwd"}))
    found = watch.drill_folders(tmp_path)
    assert found == {(tmp_path / "d1").resolve(): "log_params", (tmp_path / "practice" / "d2").resolve(): "tags"}


# -- the debounce ----------------------------------------------------------------------------------------
def test_a_target_is_due_only_after_the_delay_since_its_last_change():
    a, b = watch.Target("step", "step1"), watch.Target("step", "step2")
    pending = {a: 10.0, b: 10.2}
    assert watch.wait_for(pending, 10.1, 0.3) == pytest.approx(0.2)
    due, left = watch.settle(pending, 10.1, 0.3)
    assert due == [] and left == pending
    due, left = watch.settle(pending, 10.35, 0.3)
    assert due == [a] and left == {b: 10.2}
    assert watch.wait_for(left, 10.35, 0.3) == pytest.approx(0.15)
    # a new save restarts its own wait
    left[b] = 10.45
    assert watch.settle(left, 10.6, 0.3) == ([], {b: 10.45})
    assert watch.settle(left, 10.75, 0.3) == ([b], {})
    assert watch.wait_for({}, 11.0) is None
    assert watch.wait_for({a: 1.0}, 5.0) == 0.0


def test_targets_due_together_come_oldest_first():
    a, b = watch.Target("step", "step1"), watch.Target("step", "step2")
    assert watch.settle({a: 2.0, b: 1.0}, 5.0)[0] == [b, a]


# -- the results file and the screen -------------------------------------------------------------------------
def test_results_rows_keep_order_status_and_clean_learner_text():
    data = results_file({"step1.server": "passed", "step1.experiment": "failed", "step1.experiment_tag": "not_graded"},
                        {"step1.experiment": FAILING_MESSAGE})
    rows = watch.read_results(data)
    assert [(r.check, r.status) for r in rows] == [("step1.server", "passed"), ("step1.experiment", "failed"),
                                                   ("step1.experiment_tag", "not_graded")]
    assert rows[0].title == catalog.get("step1.server").title()
    assert watch.first_failing(rows).check == "step1.experiment"
    joined = "\n".join(rows[1].message)
    assert "\x1b" not in joined and "\x07" not in joined and "\r" not in joined
    assert "\\x1b[2J" in joined
    assert watch.read_results({}) == [] and watch.read_results({"tests": [{}]})[0].status == "failed"


def test_the_progress_bar_and_the_step_marks_come_from_the_record():
    record = progress.empty()
    progress.merge(record, [_result(c.id, "passed") for c in STEP1], "2026-01-01T10:00:00")
    progress.merge(record, [_result("step2.run", "failed")], "2026-01-01T10:05:00")
    assert watch.step_marks(record) == [("step1", "✔"), ("step2", "✘"), ("step3", "·"), ("step4", "·"),
                                        ("step5", "·")]
    assert watch.first_open_step(record) == "step2"
    assert watch.first_open_step(progress.empty()) == "step1"
    assert watch.progress_bar(1, 5, 10) == "[██░░░░░░░░]"
    assert watch.progress_bar(0, 5, 4) == "[░░░░]" and watch.progress_bar(5, 5, 4) == "[████]"
    assert [r.check for r in watch.rows_of_record(record, "step2")] == ["step2.run"]
    assert watch.rows_of_record(record, "step4") == []


def _result(check: str, status: str):
    from grader import report

    return report.Result("me", check, status)


def _screen(**changes) -> watch.Screen:
    record = progress.empty()
    progress.merge(record, [_result(c.id, "passed") for c in STEP1], "2026-01-01T10:00:00")
    rows = watch.read_results(results_file({"step2.run": "failed", "step2.params": "not_graded"},
                                           {"step2.run": FAILING_MESSAGE}))
    values = dict(folder="/home/me/repo/exercises", stack="embedded http://127.0.0.1:5000", record=record,
                  target="step2", rows=rows, graded_at="10:06:00")
    values.update(changes)
    return watch.Screen(**values)


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_the_screen_in_both_languages(lang):
    i18n.set_lang(lang)
    lines = watch.render(_screen())
    shown = "\n".join(lines)
    top = sum(c.points for c in catalog.CHECKS)
    got = sum(c.points for c in STEP1)
    expected = {"en": ["1/5 steps passed", "step2: 0/2 checks passed (graded at 10:06:00)", "keys: h next hint"],
                "ja": ["1/5 Step 合格", "step2: 2 件中 0 件のチェックに合格", "キー: h 次のヒント"]}[lang]
    for part in expected:
        assert part in shown, (part, shown)
    from grader.report import num

    assert f"{num(got)}/{num(top)}" in shown
    assert "step1 ✔  step2 ·" in shown  # the record, not this screen's rows, says how far the steps are
    assert "  ✘ step2.run — " in shown and "  – step2.params — " in shown
    assert "    expected: an experiment" in shown  # the first failing check's block, indented under the checks
    assert not any(ch in shown for ch in "\x1b\x07\r")
    assert lines[-1] == i18n.t("watch.keys")


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_the_screen_before_any_grading_and_while_grading(lang):
    i18n.set_lang(lang)
    fresh = "\n".join(watch.render(_screen(record=progress.empty(), target="step1", rows=None, graded_at=None)))
    assert i18n.t("watch.not_graded_yet", target="step1") in fresh
    assert "0/5" in fresh and i18n.t("watch.waiting") in fresh
    busy = "\n".join(watch.render(_screen(status=i18n.t("watch.grading", target="step2"))))
    assert i18n.t("watch.grading", target="step2") in busy and i18n.t("watch.waiting") not in busy
    failed = watch.render(_screen(rows=None, status=i18n.t("watch.grading_failed", target="step2", code=4),
                                  detail=["ERROR: usage \x1b[31mred"]))
    assert "  | ERROR: usage \\x1b[31mred" in failed
    idle = "\n".join(watch.render(_screen(target=None, rows=None, drills=2)))
    assert i18n.t("watch.idle") in idle and i18n.t("watch.drills", count=2) in idle


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_hints_climb_the_levels_of_the_first_failing_check(lang):
    i18n.set_lang(lang)
    rows = watch.read_results(results_file({"step2.run": "passed", "step2.params": "failed"}))
    record = progress.empty()
    target = watch.Target("step", "step2")
    seen = []
    for level in (1, 2, 3, 3):
        lines, check, reached = watch.hint_lines(record, rows, target)
        assert check == "step2.params" and reached == level
        assert i18n.t("loop.hint_level", level=level, top=3, what=i18n.t(f"loop.level{level}")) in lines[0]
        assert "\n".join(lines[1:]).strip() == "\n".join(
            "  " + line for line in MESSAGES[_hint_key("step2.params", level)][lang].splitlines()).strip()
        record["hints"][check] = reached
        seen.append(lines)
    assert seen[0] != seen[1] != seen[2] and seen[2] == seen[3]
    assert watch.hint_lines(record, None, target)[1] is None
    assert watch.hint_lines(record, rows, watch.Target("drill", "/x"))[0] == [i18n.t("watch.hint_drill")]
    passed = watch.read_results(results_file({"step2.run": "passed"}))
    assert watch.hint_lines(record, passed, target)[0] == [i18n.t("watch.hint_nothing")]


def _hint_key(check: str, level: int) -> str:
    from grader import loop

    return loop.hint_key(check, level)


def test_hidden_checks_get_no_hint(monkeypatch):
    import dataclasses

    hidden = dataclasses.replace(catalog.get("step2.run"), hidden=True)
    monkeypatch.setattr(catalog, "BY_ID", {**catalog.BY_ID, "step2.run": hidden})
    rows = watch.read_results(results_file({"step2.experiment": "passed", "step2.run": "failed"}))
    record = progress.empty()
    lines, recorded, _ = watch.hint_lines(record, rows, watch.Target("step", "step2"))
    assert recorded is None and lines == [i18n.t("loop.hidden", check="step2.run")]
    assert i18n.t("step2.run.hint1") not in "\n".join(lines)


def test_every_watch_message_has_both_languages_and_the_same_placeholders():
    import string

    keys = [k for k in MESSAGES if k.startswith("watch.")] + ["help.watch"]
    assert len(keys) > 20
    for key in keys:
        fields = [sorted(n for _, n, _, _ in string.Formatter().parse(MESSAGES[key][lang]) if n) for lang in i18n.LANGS]
        assert fields[0] == fields[1], key


# -- the terminal ------------------------------------------------------------------------------------------
def test_raw_mode_is_restored_and_piped_output_is_never_cleared(tmp_path):
    import io
    import pty
    import termios

    leader, follower = pty.openpty()
    with os.fdopen(follower, "r", closefd=False) as stdin, os.fdopen(follower, "w", closefd=False) as stdout:
        before = termios.tcgetattr(follower)
        term = watch.Terminal(stdin, stdout)
        assert term.tty
        term.raw()
        assert termios.tcgetattr(follower) != before
        term.draw(["one", "two"])
        term.restore()
        assert termios.tcgetattr(follower) == before
        term.restore()  # twice is harmless
    assert b"\x1b[2J" in os.read(leader, 4096)
    os.close(leader)
    os.close(follower)
    out = io.StringIO()
    plain = watch.Terminal(io.StringIO(), out)
    assert not plain.tty
    plain.raw()
    plain.draw(["one"])
    plain.draw(["one"])  # an unchanged screen is not printed again
    plain.restore()
    assert "\x1b" not in out.getvalue() and out.getvalue().count("one") == 1


# -- the loop, with a stand-in grading ----------------------------------------------------------------------
class FakeGrading:
    """Stands in for watch.Grading: step1 all passed when the script holds SOLVED, else step1.experiment fails."""

    started: "queue.Queue" = queue.Queue()

    def __init__(self, target, submission, env, lang, wake):
        self.target = target
        self.proc = type("P", (), {"returncode": 0})()
        if target.kind == "drill":
            self.statuses = {"drill.one": "passed", "drill.two": "failed"}
            FakeGrading.started.put((target, lang, dict(env)))
            os.write(wake, b"g")
            return
        self.solved = "SOLVED" in (Path(submission) / f"{target.name}.py").read_text()
        statuses = {c.id: "passed" for c in STEP1}
        if not self.solved:
            statuses["step1.experiment"] = "failed"
        self.statuses = statuses
        record_path = progress.progress_path(Path(submission))
        data, _ = progress.load(record_path)
        progress.merge(data, [_result(c, s) for c, s in statuses.items()], progress.now())
        progress.save(record_path, data)  # as the plugin does after a grading
        FakeGrading.started.put((target, lang, dict(env)))
        os.write(wake, b"g")

    def finished(self):
        return True

    def outcome(self):
        return watch.read_results(results_file(self.statuses, {"step1.experiment": FAILING_MESSAGE})), []

    def cancel(self):
        pass

    def cleanup(self):
        pass


class _Loop:
    """watch's loop in a thread on a stand-in terminal: keys through a pipe, the screen into a string."""

    def __init__(self, submission: Path, env: dict | None = None, stack=None):
        import io

        keys_r, self._keys = os.pipe()
        self.out = io.StringIO()
        args = (submission, env or {}, "stand-in", watch.Terminal(os.fdopen(keys_r, "r"), self.out))
        self.code = None
        self.thread = threading.Thread(target=self._run, args=args + ((stack,) if stack else ()))

    def _run(self, *args) -> None:
        self.code = watch._loop(*args)

    def __enter__(self) -> "_Loop":
        self.thread.start()
        return self

    def screen(self) -> str:
        return self.out.getvalue()

    def press(self, key: bytes) -> None:
        os.write(self._keys, key)

    def quit(self) -> int | None:
        """q, then the loop's own return code (it must end by itself)."""
        self.press(b"q")
        self.thread.join(20)
        assert not self.thread.is_alive()
        return self.code

    def __exit__(self, *exc) -> None:
        os.close(self._keys)
        self.thread.join(5)


def _until(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_saving_grades_that_step_h_climbs_and_q_quits(tmp_path, monkeypatch, lang):
    i18n.set_lang(lang)
    FakeGrading.started = queue.Queue()
    monkeypatch.setattr(watch, "Grading", FakeGrading)
    repo = make_repo(tmp_path)
    submission = repo / "exercises"
    with _Loop(submission, {"HANDSON_STACK_FILE": "/x/stack.json"}) as loop:
        out = loop.out
        _until(lambda: i18n.t("watch.not_graded_yet", target="step1") in out.getvalue(), "the first screen")
        time.sleep(0.3)  # the watcher thread is up
        (submission / "step1.py").write_text("print('first try')\n")
        target, graded_lang, env = FakeGrading.started.get(timeout=20)
        assert target == watch.Target("step", "step1") and graded_lang == lang
        assert env == {"HANDSON_STACK_FILE": "/x/stack.json"}
        _until(lambda: i18n.t("watch.summary", target="step1", passed=len(STEP1) - 1, total=len(STEP1))
               in out.getvalue(), "the failing verdict")
        assert "expected: an experiment" in out.getvalue()
        loop.press(b"h")
        _until(lambda: i18n.t("loop.level1") in out.getvalue(), "hint 1")
        loop.press(b"h")
        _until(lambda: i18n.t("loop.level2") in out.getvalue(), "hint 2")
        assert progress.load(repo / ".handson" / "progress.json")[0]["hints"] == {"step1.experiment": 2}
        (submission / "notes.py").write_text("x = 1\n")  # not a step: nothing graded
        (submission / "step1.py").write_text("# SOLVED\n")
        target, _, _ = FakeGrading.started.get(timeout=20)
        _until(lambda: i18n.t("watch.summary", target="step1", passed=len(STEP1), total=len(STEP1))
               in out.getvalue(), "the passing verdict")
        assert "step1 ✔" in out.getvalue()
        loop.press(b"r")
        assert FakeGrading.started.get(timeout=20)[0] == watch.Target("step", "step1")
        assert FakeGrading.started.empty()
        assert loop.quit() == 0
    assert "\x1b" not in out.getvalue()


def test_a_burst_of_saves_grades_once(tmp_path, monkeypatch):
    FakeGrading.started = queue.Queue()
    monkeypatch.setattr(watch, "Grading", FakeGrading)
    repo = make_repo(tmp_path)
    submission = repo / "exercises"
    with _Loop(submission) as loop:
        out = loop.out
        _until(lambda: "step1" in out.getvalue(), "the first screen")
        time.sleep(0.3)
        for i in range(5):
            (submission / "step2.py").write_text(f"print({i})\n")
            time.sleep(0.05)
        assert FakeGrading.started.get(timeout=20)[0] == watch.Target("step", "step2")
        time.sleep(1.0)
        assert FakeGrading.started.empty()
        loop.quit()


def test_saving_a_drill_script_grades_that_drill(tmp_path, monkeypatch):
    FakeGrading.started = queue.Queue()
    monkeypatch.setattr(watch, "Grading", FakeGrading)
    repo = make_repo(tmp_path)
    drill = repo / "practice" / "first"
    drill.mkdir(parents=True)
    (drill / ".practice.json").write_text(json.dumps({"drill": "log_params", "seed": 3}))
    (drill / "log_params.py").write_text("# stub\n")
    with _Loop(repo / "exercises") as loop:
        out = loop.out
        _until(lambda: i18n.t("watch.drills", count=1) in out.getvalue(), "the first screen")
        time.sleep(0.3)
        (drill / "notes.py").write_text("x = 1\n")  # not the drill's script
        (drill / "log_params.py").write_text("# mine\n")
        assert FakeGrading.started.get(timeout=20)[0] == watch.Target("drill", str(drill.resolve()))
        _until(lambda: i18n.t("watch.summary", target="practice/first", passed=1, total=2) in out.getvalue(),
               "the drill's verdict")
        loop.press(b"h")
        _until(lambda: i18n.t("watch.hint_drill") in out.getvalue(), "no layered hint for a drill")
        assert FakeGrading.started.empty()
        loop.quit()


def test_a_watcher_that_stops_is_told_and_r_still_grades(tmp_path, monkeypatch):
    import watchfiles

    def broken(*args, **kwargs):
        raise OSError(28, "inotify watch limit reached")
        yield  # a generator, as watchfiles.watch is

    FakeGrading.started = queue.Queue()
    monkeypatch.setattr(watch, "Grading", FakeGrading)
    monkeypatch.setattr(watchfiles, "watch", broken)
    i18n.set_lang("ja")
    repo = make_repo(tmp_path)
    with _Loop(repo / "exercises") as loop:
        out = loop.out
        _until(lambda: "inotify watch limit reached" in out.getvalue(), "the watcher's failure")
        assert "ファイルの保存を検知できなくなりました" in out.getvalue()
        loop.press(b"r")
        assert FakeGrading.started.get(timeout=20)[0] == watch.Target("step", "step1")
        loop.quit()


def test_a_stack_that_died_is_told_after_the_next_grading(tmp_path, monkeypatch):
    class Dead:
        def exited(self):
            return -9

    FakeGrading.started = queue.Queue()
    monkeypatch.setattr(watch, "Grading", FakeGrading)
    repo = make_repo(tmp_path)
    with _Loop(repo / "exercises", stack=Dead()) as loop:
        out = loop.out
        _until(lambda: "step1" in out.getvalue(), "the first screen")
        loop.press(b"r")
        _until(lambda: i18n.t("watch.stack_gone", code=-9) in out.getvalue(), "the stack's end")
        loop.quit()


# -- the command on a stand-in stack (only /health answers; nothing is graded) --------------------------------
class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def health_only():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _watch_process(tmp_path, uri, lang="en", stdin=subprocess.PIPE):
    repo = make_repo(tmp_path)
    env = {**os.environ, "HANDSON_TRACKING_URI": uri, "HANDSON_DB_URL": "sqlite://", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "grader", "watch", "--lang", lang,
                             f"--submission={repo / 'exercises'}"], cwd=ROOT, env=env, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_the_command_reuses_a_running_stack_and_q_ends_it(tmp_path, health_only, lang):
    proc = _watch_process(tmp_path, health_only, lang)
    out, err = proc.communicate("q", timeout=60)
    assert proc.returncode == 0, err
    i18n.set_lang(lang)
    assert i18n.t("watch.stack_reused", uri=health_only) in out
    assert i18n.t("watch.keys") in out and i18n.t("watch.ended") in out
    assert "\x1b" not in out  # piped: plain lines, no clearing
    assert i18n.t("watch.stopping") not in out  # a stack it did not start is left running


def test_sigterm_ends_the_command_quietly(tmp_path, health_only):
    proc = _watch_process(tmp_path, health_only, stdin=subprocess.DEVNULL)  # stdin ends at once: still watching
    try:
        lines: list = []
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        _until(lambda: any("keys:" in line for line in list(lines)), "the first screen", 60)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert proc.returncode == 0
        assert "Traceback" not in proc.stderr.read()
        _until(lambda: any("watch ended" in line for line in list(lines)), "the last line", 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("how", ["q", "ctrl-c", "sigterm"])
def test_on_a_terminal_the_screen_is_redrawn_and_the_terminal_restored(tmp_path, health_only, how):
    import pty
    import select
    import termios

    leader, follower = pty.openpty()
    before = termios.tcgetattr(follower)
    repo = make_repo(tmp_path)
    env = {**os.environ, "HANDSON_TRACKING_URI": health_only, "HANDSON_DB_URL": "sqlite://"}
    proc = subprocess.Popen([sys.executable, "-m", "grader", "watch", "--lang", "en",
                             f"--submission={repo / 'exercises'}"], cwd=ROOT, env=env, stdin=follower,
                            stdout=follower, stderr=subprocess.PIPE, text=True)
    shown = b""
    try:
        deadline = time.monotonic() + 60
        while b"keys:" not in shown and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                shown += os.read(leader, 65536)
        assert b"keys:" in shown and b"\x1b[2J" in shown  # the screen is cleared and drawn
        assert termios.tcgetattr(follower) != before  # raw mode while it runs
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            os.write(leader, b"q" if how == "q" else b"\x03")
        assert proc.wait(30) == 0
        assert termios.tcgetattr(follower) == before
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
        os.close(follower)


def test_no_stack_to_reuse_with_stack_external_is_told_before_any_screen(tmp_path):
    repo = make_repo(tmp_path)
    env = {**os.environ, "HANDSON_TRACKING_URI": "http://127.0.0.1:9", "HANDSON_DB_URL": "sqlite://"}
    proc = subprocess.run([sys.executable, "-m", "grader", "watch", "--stack", "external",
                           f"--submission={repo / 'exercises'}"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "does not answer 200" in proc.stderr
    assert "keys:" not in proc.stdout


def test_a_missing_submission_folder_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader", "watch", f"--submission={tmp_path / 'nope'}"],
                          cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "nope" in proc.stderr


# -- watch in tmux: the way a person runs it ------------------------------------------------------------------
def _need_tmux() -> None:
    if shutil.which("tmux") is None:
        if IN_CI:
            pytest.fail("tmux is not installed (CI=true: the watch tests must run; apt-get install tmux)")
        pytest.skip("tmux is not installed")


class Tmux:
    """One detached tmux session on a server of the test's own (-L): never the user's tmux."""

    def __init__(self, name: str, command: str):
        self.socket = f"handson-watch-test-{os.getpid()}-{name}"
        self.session = name
        self.run("new-session", "-d", "-s", name, "-x", "160", "-y", "60", command)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30,
                              check=check)

    def screen(self) -> str:
        result = self.run("capture-pane", "-p", "-t", self.session, check=False)
        return result.stdout if result.returncode == 0 else ""

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def wait_for(self, wanted: str, deadline: float, gone: Path | None = None) -> str:
        """The screen once it shows ``wanted`` (fails at ``deadline``, or at once when ``gone`` appears: the
        command ended)."""
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if wanted in screen:
                return screen
            assert gone is None or not gone.exists(), f"watch ended:\n{screen}"
            time.sleep(0.5)
        raise AssertionError(f"{wanted!r} not on the screen:\n{screen}")

    def save_from_shell(self, source: Path, target: Path) -> None:
        """Type ``cp source target`` into a shell in a second window of the session (the learner's editor
        saving the file); watch's window stays the one the screen is read from."""
        self.run("new-window", "-d", "-t", self.session, "-n", "editor")
        # `; exit` closes the window, so that the session ends with watch (its server names the test's folder)
        self.keys_to(f"{self.session}:editor", f"cp {shlex.quote(str(source))} {shlex.quote(str(target))}; exit",
                     "Enter")

    def keys_to(self, target: str, *keys: str) -> None:
        self.run("send-keys", "-t", target, *keys)

    def close(self) -> None:
        self.run("kill-server", check=False)


def _ended(rc_file: Path, seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not rc_file.exists():
        time.sleep(0.5)
    return rc_file.read_text().strip() if rc_file.exists() else "running"


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_in_tmux_the_screen_answers_keys_and_q_quits(tmp_path, health_only, lang):
    """The tmux plumbing on the stand-in stack (nothing is graded): the screen, h with nothing to hint, q."""
    _need_tmux()
    repo = make_repo(tmp_path)
    rc_file = tmp_path / "rc"
    command = (f"cd {ROOT} && HANDSON_TRACKING_URI={health_only} HANDSON_DB_URL=sqlite:// {sys.executable} -m grader "
               f"watch --lang {lang} --submission={repo / 'exercises'}; echo $? > {rc_file}")
    tmux = Tmux(f"light-{lang}", command)
    i18n.set_lang(lang)
    try:
        screen = tmux.wait_for(i18n.t("watch.keys"), time.monotonic() + 60, rc_file)
        assert i18n.t("watch.stack_reused", uri=health_only) in screen
        assert i18n.t("watch.not_graded_yet", target="step1") in screen
        tmux.keys("h")
        tmux.wait_for(i18n.t("watch.hint_nothing"), time.monotonic() + 20, rc_file)
        tmux.keys("q")
        assert _ended(rc_file, 30) == "0", tmux.screen()
    finally:
        tmux.close()


def _stack_processes(folder: Path) -> list:
    """Processes started under ``TMPDIR=folder`` (every service inherits TMPDIR) or naming ``folder``."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            named = any(str(folder) in part for part in proc.info["cmdline"] or [])
            if named or proc.environ().get("TMPDIR") == str(folder):
                found.append(proc)
        except (psutil.Error, TypeError):
            continue
    return found


def _none_left(folder: Path, seconds: float = 15.0) -> list:
    """What is still running of ``folder``'s processes after ``seconds`` (the pane's shell ends just after rc)."""
    end = time.monotonic() + seconds
    left = _stack_processes(folder)
    while left and time.monotonic() < end:
        time.sleep(0.5)
        left = _stack_processes(folder)
    return left


@pytest.mark.realstack
@pytest.mark.slow
@pytest.mark.parametrize("lang", i18n.LANGS)
def test_watch_in_tmux_grades_a_saved_step_on_its_own_stack(tmp_path, lang):
    """A person's loop on a real stack: watch starts an embedded stack, the learner saves step1.py (the
    reference solution) into a copy of the exercises, the screen shows step1 passed; q ends watch and its stack."""
    _need_tmux()
    copy = tmp_path / "exercises"
    shutil.copytree(ROOT / "exercises", copy)
    temp = tmp_path / "tmp"  # the stack's folders land here (TMPDIR): what is left of it can be found
    temp.mkdir()
    rc_file = tmp_path / "rc"
    command = (f"cd {ROOT} && TMPDIR={temp} {sys.executable} -m grader watch --stack embedded --lang {lang} "
               f"--submission={copy}; echo $? > {rc_file}")
    tmux = Tmux(f"real-{lang}", command)
    i18n.set_lang(lang)
    deadline = time.monotonic() + 240
    try:
        screen = tmux.wait_for(i18n.t("watch.keys"), deadline, rc_file)
        uri = re.search(r"http://127\.0\.0\.1:\d+", screen).group()
        time.sleep(0.5)
        # saving the file is all the learner does: here from a shell in a second tmux window, as by hand
        tmux.save_from_shell(ROOT / "solutions" / "step1.py", copy / "step1.py")
        screen = tmux.wait_for(i18n.t("watch.summary", target="step1", passed=len(STEP1), total=len(STEP1)),
                               deadline, rc_file)
        assert "step1 ✔" in screen and "✘" not in screen, screen
        tmux.keys("q")
        assert _ended(rc_file, 90) == "0", tmux.screen()
        from grader.stack.base import http_ok

        assert not http_ok(uri + "/health", timeout=2.0), "the stack watch started still answers"
        left = _none_left(temp)
        assert not left, [p.info["cmdline"] for p in left]
        # a submission folder outside a repository keeps its own record (grader/progress.py)
        record = json.loads((copy / ".handson" / "progress.json").read_text(encoding="utf-8"))
        assert record["steps"]["step1"]["passed_at"]
    finally:
        tmux.close()
