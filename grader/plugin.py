"""The pytest plugin: options, the stack, one learner script per step, checks, summary and reports.

Checks live in ``checks/test_stepN.py``; each is a plain function marked with ``@check("stepN.id")``
that receives ``step`` (the learner's script result and what it left in the stack) or
``stack_facts``. The plugin turns a failed fact into an expected-vs-found message with the check's hint
and the script's own output; a broken stack becomes an error naming the service, never a zero.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import pytest

from grader import catalog, limits, options, outcomes, report, text
from grader.class_workflow import CLONE_FAILED
from grader.checking import CheckFailed, labelled
from grader.config import default as default_setting, get_config, language
from grader.i18n import get_lang, set_lang, t
from grader.report import num as points  # hooks take an argument named `report`
from grader.session import GradingSession, class_learners

_SESSION = pytest.StashKey[GradingSession]()
_COLLECTOR = pytest.StashKey["_Collector"]()


def check(check_id: str):
    """Mark a test function as the check ``check_id`` of the catalogue."""
    catalog.get(check_id)  # an unknown id fails at import, not at grading time

    def mark(fn):
        return pytest.mark.check(check_id)(fn)

    return mark


# -- options ---------------------------------------------------------------------------------------
def pytest_addoption(parser):
    group = parser.getgroup("handson", "MLflow hands-on grader")
    group.addoption("--submissions", default=None, metavar="DIR",
                    help="grade every sub-folder of DIR as one learner")
    # Options `python -m grader` takes too: defined once, in grader/options.py.
    options.add_to_pytest(group, "submission", "stack", "submission_timeout", "stack_timeout", "lang")
    group.addoption("--grade-json", default=None, metavar="PATH",
                    help="write Gradescope results.json (a folder, one file per learner, with --submissions)")
    group.addoption("--gradebook", default=None, metavar="PATH", help="write a CSV gradebook")
    options.add_to_pytest(group, "gradebook_format", "roster")
    group.addoption("--previous", default=None, metavar="PATH",
                    help="an earlier run's gradebook CSV or results folder: the gradebook gets previous and delta "
                         "columns, the summary says what changed")
    group.addoption("--learners", default=None, metavar="A,B,…",
                    help="grade only these learners of --submissions (folder names or learner ids, comma-separated)")
    group.addoption("--html-report", default=None, metavar="DIR",
                    help="write an HTML report per learner and DIR/index.html (with --submissions: a class overview)")
    group.addoption("--shard", default=None, metavar="i/N", help="grade only every N-th learner, from the i-th")
    options.add_to_pytest(group, *(f"{name}_port" for name in options.PORTS), "compose_file", "sandbox")
    group.addoption("--script-memory", default=None, metavar="SIZE",
                    help="memory a learner script may use, all its processes together, e.g. 512M "
                         f"(default: {default_setting('script_memory')}; needs a writable cgroup, see the header)")
    group.addoption("--script-tmp", default=None, metavar="SIZE",
                    help=f"size of a script's /tmp, /dev/shm and HOME, each (default: {default_setting('script_tmp')}; "
                         "with bubblewrap)")
    group.addoption("--script-file-size", default=None, metavar="SIZE",
                    help=f"largest file a script may write (default: {default_setting('script_file_size')})")
    group.addoption("--no-warm", action="store_true", default=False,
                    help="start every learner script in a fresh interpreter when its turn comes (default: the next "
                         "script's interpreter imports MLflow while the current one runs; grader/warm.py)")
    group.addoption("--grader-debug", action="store_true", default=False,
                    help="show the grader's own tracebacks (for developers of the grader)")
    for name, default, text in (
        ("handson_submission", "", "default submission folder"),
        ("handson_stack", "", "default stack backend"),
        ("handson_submission_timeout", "", "default script timeout in seconds"),
        ("handson_stack_timeout", "", "default service start timeout in seconds"),
        ("handson_lang", "", "default message language (en/ja)"),
        ("handson_sandbox", "", "default script isolation (auto/bwrap/user/none)"),
        ("handson_script_memory", "", "default memory cap of a learner script (e.g. 1G)"),
        ("handson_script_tmp", "", "default size of a script's /tmp, /dev/shm and HOME (e.g. 256M)"),
        ("handson_script_file_size", "", "default largest file a script may write (e.g. 256M)"),
    ):
        parser.addini(name, text, default=default)
    parser.addini("handson_compose_files", "default compose files for the docker stack, one a line", type="linelist")


def _in_grader_project(config) -> bool:
    """The plugin is installed for the whole environment; it grades only in a hands-on repository."""
    return (config.rootpath / "checks").is_dir() or bool(
        config.getoption("submission") or config.getoption("submissions"))


def pytest_configure(config):
    config.addinivalue_line("markers", "check(id): the test is the check `id` of the grader's catalogue")
    if not _in_grader_project(config):
        return
    if not (config.rootpath / "checks").is_dir():
        # pytest reads an existing folder given as an option value as a test path when it picks its
        # rootdir (before plugins load), so `--submissions /elsewhere` can move the rootdir away. The rest of
        # the configuration cannot be read from there, but the language can: say it in the chosen one.
        set_lang(language(config))
        raise pytest.UsageError(t("usage.rootdir", rootdir=config.rootpath))
    set_lang(language(config))  # option errors below are told in the chosen language
    try:
        cfg = get_config(config)
    except ValueError as e:  # bad options: one clear line, not a traceback
        raise pytest.UsageError(str(e)) from None
    set_lang(cfg.lang)
    # pytest prints a failure's whole message in the "short test summary" when CI is set (GitHub Classroom,
    # instructors' pipelines): each expected/found/hint block would show twice. One line there, as locally.
    if hasattr(config.option, "force_short_summary"):
        config.option.force_short_summary = True
    workerinput = getattr(config, "workerinput", None)
    try:
        session = config.stash[_SESSION] = GradingSession(cfg, workerinput)
    except ValueError as e:  # an unknown --learners name
        raise pytest.UsageError(str(e)) from None
    session.upcoming = lambda: _upcoming(config)
    if not session.learners:
        if not (cfg.shard and cfg.submissions and class_learners(cfg.submissions)):
            raise pytest.UsageError(f"--submissions {cfg.submissions}: no learner folders in it")
        # More shards than learners (a small class in a fixed CI matrix): this shard grades no one and
        # writes empty reports; the merge takes them like any other shard's.
        config.stash[_EMPTY_SHARD] = True
    collector = config.stash[_COLLECTOR] = _Collector(config)
    config.pluginmanager.register(collector, "handson-collector")
    if workerinput is None:
        _read_class_files(config, cfg)
    if _grades(config):
        # After the checks that only read folders and files: a mistake there is told without asking Docker.
        try:
            session.prepare()
        except ValueError as e:  # an isolation mode asked for that this machine cannot give
            raise pytest.UsageError(str(e)) from None
    if workerinput is None:
        _interrupt_on_termination()
        if cfg.html_report:
            # The report's expected values come from the check modules as they are now, before any learner
            # script runs: nothing written into the checkout later is executed by the report.
            from grader import html_report

            html_report.preload(cfg.rootdir)


# pytest's options that show the suite (its options, markers, tests or fixtures) instead of running it.
_SHOW_ONLY = ("help", "markers", "collectonly", "showfixtures", "show_fixtures_per_test", "setupplan")


def _grades(config) -> bool:
    """Whether this pytest run runs checks. One that only shows something must not start a process, ask
    Docker or create a folder; one that grades prepares its session at configuration as it always did, so a
    sandbox mode this machine cannot give stops the run before its header, even without a header (-q)."""
    return not any(getattr(config.option, name, False) for name in _SHOW_ONLY)


def _read_class_files(config, cfg) -> None:
    """The roster and the previous run, read before anything is graded: a bad file stops the run at once, and
    --previous may name the very gradebook this run writes."""
    from grader import lms

    try:
        if cfg.roster is not None:
            roster = lms.read_roster(cfg.roster)
            if cfg.gradebook_format == "moodle":
                lms.moodle_identifier(roster)
            config.stash[_ROSTER] = roster
        if cfg.previous is not None:
            config.stash[_PREVIOUS] = report.read_previous(cfg.previous)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


def _interrupt_on_termination() -> None:
    """SIGTERM and SIGHUP (a CI job cancelled, a terminal closed) act like Ctrl-C: pytest stops, the
    stack goes down and the results graded so far are written."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller: start the one shared stack before the first worker, hand it to every worker."""
    session = node.config.stash.get(_SESSION, None)
    if session is not None:
        node.workerinput.update(session.workerinput())


def pytest_unconfigure(config):
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.stop()


def pytest_report_header(config):
    session = config.stash.get(_SESSION, None)
    if session is None:
        return None
    cfg = session.cfg
    where = cfg.submissions or cfg.submission
    count = len(session.learners)
    submission = t("header.submission", path=where, count=count, run=session.run_id, lang=get_lang())
    if not _grades(config):
        # The stack, sandbox and limits lines would each probe the machine (Docker, bubblewrap, cgroups).
        return [submission]
    return [
        t("header.stack", backend=session.backend_name, reason=session.backend_reason),
        t("header.sandbox", mode=session.sandbox.mode, reason=session.sandbox.describe()),
        t("header.limits", limits=limits.plan().describe(cfg.limits(), tmpfs=session.sandbox.mode == "bwrap")),
        t("header.warm_off") if cfg.no_warm else t("header.warm_on"),
        submission,
    ]


# -- collection ------------------------------------------------------------------------------------
def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("check") is None:
        return
    learners = metafunc.config.stash[_SESSION].learners  # KeyError here: a check outside a grader repo
    metafunc.fixturenames.append("learner")
    metafunc.parametrize("learner", learners, ids=[lr.id for lr in learners], scope="function")


def pytest_collection_modifyitems(session, config, items):
    """An empty shard has no check to run (pytest would show each as an unparametrised skip)."""
    if config.stash.get(_EMPTY_SHARD, False):
        config.hook.pytest_deselected(items=list(items))
        items[:] = []


# -- what this process grades next (a script started ahead warms while the current one runs) -----------------
_NOW = pytest.StashKey[object]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    item.config.stash[_NOW] = item
    yield


def _queued_items(config) -> list:
    """The checks this process runs after the current one: the rest of the session's items, or an xdist
    worker's queue (pytest-xdist's WorkerInteractor, read under its lock; should that ever change shape,
    nothing is started ahead and every script simply starts cold)."""
    now = config.stash.get(_NOW, None)
    if now is None:
        return []
    items = now.session.items
    if hasattr(config, "workerinput"):
        for plugin in config.pluginmanager.get_plugins():
            if hasattr(plugin, "torun") and hasattr(plugin, "nextitem_index"):
                try:
                    with plugin.torun.lock() as queue:
                        indices = [plugin.nextitem_index, *queue]
                    return [items[i] for i in indices if isinstance(i, int)]
                except Exception:  # noqa: BLE001 - see the docstring
                    return []
        return []
    try:
        return items[items.index(now) + 1:]
    except ValueError:
        return []


def _upcoming(config):
    """(learner, step) of the checks this process runs next that need a learner's script, in order; a check
    that evaluates the registered model in a sandbox adds (learner, catalog.MODEL_EVALUATION) after its step."""
    for item in _queued_items(config):
        marker = item.get_closest_marker("check")
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None or "step" not in getattr(item, "fixturenames", ()):
            continue
        learner = callspec.params.get("learner")
        if learner is not None:
            yield learner, catalog.get(marker.args[0]).step
            if marker.args[0] in catalog.EVALUATING_CHECKS:
                yield learner, catalog.MODEL_EVALUATION


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Keep each learner's step on one xdist worker (its script runs once, its checks read it there):
    work is handed out by (learner, step), whatever ``--dist`` load mode was asked for. When a worker
    dies, what it had not finished goes to another worker as a unit."""
    if config.stash.get(_SESSION, None) is None or config.getoption("dist") not in ("load", "loadgroup", "loadscope"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByLearnerStep(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path, _, rest = nodeid.partition("::")
            learner = rest[rest.rfind("[") + 1:-1] if rest.endswith("]") else rest
            return f"{learner}:{path}"

    return ByLearnerStep(config, log)


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def grading(request) -> GradingSession:
    """This grading run: learners, stack, script results."""
    return request.config.stash[_SESSION]


@pytest.fixture
def check_id(request) -> str:
    return request.node.get_closest_marker("check").args[0]


@pytest.fixture
def step(grading, learner, check_id):
    """The learner's script for this check's step, run once, and what it left in the stack."""
    return grading.outcome(learner, catalog.get(check_id).step)


@pytest.fixture
def stack_facts(grading, learner):
    """What the stack itself looks like: health, UI, tracking tables, artifact bucket."""
    return grading.stack_facts()


# -- running a check -------------------------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run a check; when a read fails because a service went away, wait for the stack's watchdog to
    bring it back and read again (the data is still there): an outage is not the learner's failure."""
    if pyfuncitem.get_closest_marker("check") is None:
        return None
    outcome = pyfuncitem.funcargs.get("step")
    if outcome is not None and not outcome.script.exists:
        failed_clone = Path(outcome.script.script).parent / CLONE_FAILED  # python -m grader clone-class
        if failed_clone.is_file():
            url, _, error = failed_clone.read_text(encoding="utf-8", errors="replace").partition("\n")
            raise CheckFailed("script.not_cloned", url=url.strip(), error=error.strip())
        raise CheckFailed("script.missing", script=outcome.script.script)
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    try:
        pyfuncitem.obj(**kwargs)
    except Exception as exc:
        grading = pyfuncitem.config.stash[_SESSION]
        if outcomes.service_down(exc) is None or not grading.recover():
            raise
        if outcome is not None:
            outcome.reset()
        if "stack_facts" in kwargs:
            kwargs["stack_facts"] = grading.stack_facts()
        pyfuncitem.obj(**kwargs)
    return True


def _script_note(outcome) -> str:
    if outcome is None or outcome.script.ok or not outcome.script.exists:
        return ""
    s = outcome.script
    head = report.script_state(s)
    if s.worker_lost:
        return head
    limit = getattr(s, "limit", "")  # which cap stopped it (grader/limits.py), when the runner records it
    if limit:
        head = t(f"limits.hit_{limit}", script=s.script, limit=getattr(s, "limit_value", "")) + "\n" + head
    # Every line of the learner's output is marked and cleaned: it cannot pass for a line of the grader's.
    tail = s.tail(15) or t("script.no_output")
    return head + "\n" + text.output_block(tail, "    " + text.OUTPUT_MARK)


_NOTED = pytest.StashKey[dict]()


def _render_failure(item, exc: CheckFailed) -> str:
    check_ = catalog.get(item.get_closest_marker("check").args[0])
    lines = [f"{check_.id} — {check_.title()}", *("  " + line for line in exc.render().split("\n"))]
    outcome = item.funcargs.get("step") if hasattr(item, "funcargs") else None
    # A script stopped by the timeout is told that, with its last output: a hint about code it already has misleads.
    if exc.key != "script.missing" and not (outcome is not None and outcome.script.timed_out):
        lines.append("  " + labelled(t("label.hint"), check_.hint()))
    note = _script_note(outcome)
    if note:
        # The output of a script that crashed or hung is shown once per step, under its first failed check.
        noted = item.config.stash.setdefault(_NOTED, {})
        first = noted.setdefault((outcome.learner, outcome.step), check_.id)
        if first != check_.id:
            note = t("script.see_above", script=outcome.script.script, check=first)
        lines.append("  " + note.replace("\n", "\n  "))
    return "\n".join(lines)


_VERDICTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Turn what a check raised into its verdict (grader/outcomes.py) and put it on the report, where the
    terminal, JUnit, xdist's controller and the collector of results read it."""
    rep = yield
    marker = item.get_closest_marker("check")
    if marker is None:
        return rep
    check_id = marker.args[0]
    learner = item.callspec.params["learner"].id
    debug = item.config.stash[_SESSION].cfg.debug
    # The verdicts of this learner's checks graded so far here (a step's checks run in order on one worker).
    verdicts = item.config.stash.setdefault(_VERDICTS, {}).setdefault(learner, {})
    verdict = None
    if call.excinfo is not None and not call.excinfo.errisinstance((pytest.skip.Exception,)):
        exc = call.excinfo.value
        verdict = outcomes.judge(exc, check_id, failure=lambda failed: _render_failure(item, failed),
                                 needs=catalog.get(check_id).needs, verdicts=verdicts)
        # The last stop before the terminal, JUnit and the reports: exception texts can carry learner text.
        message = text.clean(verdict.message, text.MAX_MESSAGE)
        if verdict.internal and debug:
            message += "\n" + "".join(traceback.format_exception(exc))
        if verdict.status == outcomes.NOT_GRADED:
            # A skip with its reason: one short line (-ra), JUnit's <skipped message=…>, no expected/found block;
            # the check's id leads, as pytest's own line names only the file.
            rep.outcome = "skipped"
            rep.longrepr = (str(item.path), item.location[1] + 1, f"{check_id}: {message}")
        elif not debug or verdict.status != outcomes.ERROR:
            rep.longrepr = message
        rep.user_properties.append(("handson_message", message))
        if verdict.needs:
            rep.user_properties.append(("handson_needs", ",".join(verdict.needs)))
    elif rep.when == "call" and rep.passed:
        verdict = outcomes.Verdict(outcomes.PASSED)
    if verdict is not None:
        verdicts[check_id] = verdict
        rep.user_properties.append(("handson_check", check_id))
        rep.user_properties.append(("handson_learner", learner))
        rep.user_properties.append(("handson_status", verdict.status))
        outcome = getattr(item, "funcargs", {}).get("step")
        if outcome is not None:
            rep.user_properties.append(("handson_script_seconds", round(outcome.script.duration, 3)))
    return rep


# -- results and reports ---------------------------------------------------------------------------
class _Collector:
    """Gathers one result per check from the reports (xdist forwards workers' reports here) and,
    for a batch, says when each learner is fully graded. ``results`` is the run's one list of results:
    the reports and the summary read it here."""

    def __init__(self, config):
        self.config = config
        self.results: list[report.Result] = []
        self.expected: dict[str, int] = {}
        self.done: dict[str, int] = {}

    def _expect(self, nodeids):
        for nodeid in nodeids:
            learner = _learner_of(self.config, nodeid)
            if learner is not None:
                self.expected[learner] = self.expected.get(learner, 0) + 1

    def pytest_collection_finish(self, session):
        if not hasattr(self.config, "workerinput"):
            self._expect(item.nodeid for item in session.items if item.get_closest_marker("check"))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        if not self.expected:  # every worker collects the same items; count them once
            self._expect(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem, report, sched):
        """xdist: a worker died while running ``crashitem`` — in practice a learner's script that took
        it down. Graded as that check's failure, with the reason, instead of a result lost."""
        check_id = _check_of(self.config, crashitem)
        learner = _learner_of(self.config, crashitem)
        if check_id is None or learner is None:
            return
        entry = catalog.get(check_id)
        message = "\n".join([f"{check_id} — {entry.title()}", "  " + t("script.worker_lost", script=f"{entry.step}.py")])
        report.longrepr = message
        report.user_properties += [("handson_message", message), ("handson_check", check_id),
                                   ("handson_learner", learner), ("handson_status", outcomes.FAILED)]

    @pytest.hookimpl(trylast=True)  # after the terminal reporter has drawn this test's mark
    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        if "handson_status" not in props:
            return
        result = result_of(props)
        results = self.results
        if any(r.learner == result.learner and r.check == result.check for r in results):
            # A check reported twice (its worker crashed, and it ran again elsewhere): the later one counts.
            results[:] = [r for r in results if not (r.learner == result.learner and r.check == result.check)]
            results.append(result)
            return
        results.append(result)
        self.done[result.learner] = self.done.get(result.learner, 0) + 1
        if self.config.stash[_SESSION].cfg.submissions and self.done[result.learner] == self.expected.get(
                result.learner):
            mine = [r for r in results if r.learner == result.learner]
            finished = sum(1 for k, n in self.done.items() if n == self.expected.get(k))
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write("\n" if reporter.verbosity <= 0 else "")
                reporter.write_line(t("progress.learner", learner=_label(self.config, result.learner),
                                      score=points(sum(r.score for r in mine)),
                                      max=points(sum(r.max_score for r in mine)),
                                      done=finished, total=len(self.expected)))


def _learner_of(config, nodeid: str) -> str | None:
    """The learner id of a test node id. pytest writes non-ASCII ids escaped (``test_x[\\u5c71\\u7530]``);
    ids never hold a backslash or a control character, so escaping each id the same way finds it."""
    if not (nodeid.endswith("]") and "[" in nodeid):
        return None
    shown = nodeid[nodeid.rindex("[") + 1:-1]
    learners = config.stash[_SESSION].learners
    return next((lr.id for lr in learners if shown in (lr.id, lr.id.encode("unicode_escape").decode("ascii"))),
                shown)


def _folders(config) -> dict[str, str]:
    """learner id -> the folder it was read from."""
    return {lr.id: lr.folder for lr in config.stash[_SESSION].learners}


def _label(config, learner: str) -> str:
    return report.learner_label(learner, _folders(config).get(learner))


def _check_of(config, nodeid: str) -> str | None:
    """The check id of a test node id (``checks/test_step2.py::test_run[alice]``), read from its marker."""
    import importlib.util

    path, _, rest = nodeid.partition("::")
    function = rest.split("[")[0]
    file = config.rootpath / path
    try:
        spec = importlib.util.spec_from_file_location(f"_handson_{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        marks = getattr(getattr(module, function), "pytestmark", [])
    except Exception:  # an unknown node: leave xdist's own report as it is
        return None
    return next((m.args[0] for m in marks if m.name == "check"), None)


def result_of(props: dict) -> report.Result:
    needs = props.get("handson_needs", "")
    return report.Result(props["handson_learner"], props["handson_check"], props["handson_status"],
                         props.get("handson_message", ""), props.get("handson_script_seconds"),
                         tuple(needs.split(",")) if needs else ())


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput") or _SESSION not in config.stash:
        return
    grading = config.stash[_SESSION]
    results = config.stash[_COLLECTOR].results
    cfg = grading.cfg
    if config.stash.get(_EMPTY_SHARD, False):
        session.exitstatus = pytest.ExitCode.OK  # nothing to grade is this shard's right answer, not "no tests"
    per_learner = report.by_learner(results)
    uri = grading.tracking_uri()
    restarts = config.stash[_RESTARTS] = grading.restarts()
    folders = _folders(config)
    if cfg.grade_json:
        if cfg.submissions:
            for learner, checks in per_learner.items():
                report.write_gradescope(report.results_path(cfg.grade_json, learner), checks, uri,
                                        learner=learner, folder=folders.get(learner),
                                        restarts=report.restarts_of(learner, restarts))
        elif per_learner:
            learner, checks = next(iter(per_learner.items()))
            report.write_gradescope(cfg.grade_json, checks, uri, learner=learner, folder=folders.get(learner),
                                    restarts=report.restarts_of(learner, restarts))
    if not cfg.submissions and per_learner:
        # The learner's own record (.handson/progress.json): one run of one submission, never a class.
        from grader import progress

        warning = progress.record(cfg.submission, results)
        if warning:
            print(warning, file=sys.stderr)
    previous = config.stash.get(_PREVIOUS, None)
    if previous is not None:
        config.stash[_CHANGES] = report.change_lines(results, previous, folders)
    if cfg.gradebook:
        from grader import lms

        rows = report.gradebook_rows(results, folders, restarts)
        if previous is not None and cfg.gradebook_format == "csv":
            report.add_previous(rows, previous)
        roster = config.stash.get(_ROSTER, None)
        matched = report.write_gradebook(cfg.gradebook, rows, cfg.gradebook_format, roster)
        if matched is not None:
            config.stash[_ROSTER_LINES] = lms.problem_lines(matched, roster, cfg.gradebook_format)
    if cfg.html_report:
        # Last, while the stack is still up (it stops at unconfigure): the pages read what scripts logged.
        import time

        began = time.perf_counter()
        try:
            from grader import html_report

            config.stash[_HTML_LINES] = html_report.write(grading, results, cfg.html_report, began, previous)
        except Exception as e:  # never lose the other reports, never show the grader's traceback
            config.stash[_HTML_LINES] = [t("html.page_failed", learner=str(cfg.html_report),
                                           error=f"{type(e).__name__}: {e}")]


_HTML_LINES = pytest.StashKey[list]()
_EMPTY_SHARD = pytest.StashKey[bool]()
_RESTARTS = pytest.StashKey[list]()
_ROSTER = pytest.StashKey[object]()
_ROSTER_LINES = pytest.StashKey[list]()
_PREVIOUS = pytest.StashKey[dict]()
_CHANGES = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.stash.get(_EMPTY_SHARD, False):
        index, total = config.stash[_SESSION].cfg.shard
        terminalreporter.write_line(t("shard.empty", index=index, total=total))
    collector = config.stash.get(_COLLECTOR, None)
    results = collector.results if collector is not None else []
    if results:
        terminalreporter.write_sep("=", t("summary.title"))
        for line in report.summary_lines(results, _folders(config) if _SESSION in config.stash else None):
            terminalreporter.write_line(line)
        if any(r.status == outcomes.NOT_GRADED for r in results):
            terminalreporter.write_line(t("summary.not_graded_note"))
        if any(r.status == outcomes.ERROR for r in results):
            terminalreporter.write_line(t("summary.infra_note"))
    for line in report.restart_lines(config.stash.get(_RESTARTS, [])):
        terminalreporter.write_line(line, yellow=True)
    if _PREVIOUS in config.stash:
        changes = config.stash.get(_CHANGES, [])
        terminalreporter.write_sep("-", t("previous.title", path=str(config.stash[_SESSION].cfg.previous)))
        for line in changes or [t("previous.no_change")]:
            terminalreporter.write_line(line)
    for line in config.stash.get(_ROSTER_LINES, []):
        # The warning lines (not indented) in yellow; the learners and entries they list under them.
        terminalreporter.write_line(line, yellow=not line.startswith(" "))
    for line in config.stash.get(_HTML_LINES, []):
        terminalreporter.write_line(line)
    sys.stdout.flush()
