"""One grading run: its id, its learners, its stack, and each learner's script results.

The stack runs in a process of its own (grader/stack/serve.py), started by the controller on first need
(at the latest at the first worker's configuration); the controller and its xdist workers are its clients.
Workers receive the stack and the shared work folder through ``workerinput``. The session holds the parts
together; each part has one job and is shared with the practice drills where they need it: the names
handed to scripts (grader/naming.py), the record of script results that makes each (learner, step) script
run once across workers (grader/ledger.py), and the learners' MLflow users (grader/accounts.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import tempfile
import time
import unicodedata
import urllib.request
from pathlib import Path

from grader import sandbox
from grader.accounts import Accounts
from grader.catalog import MODEL_EVALUATION, STEPS
from grader.config import GraderConfig
from grader.ledger import Ledger, start_attempt
from grader.naming import Naming
from grader.runner import WARM_MODULES, ScriptResult
from grader.stack import StackError, StackInfo, choose
from grader.stack.auth import admin_header
from grader.stack import watchdog
from grader.stack.base import alive, guard, http_ok
from grader.stack.serve import stack_client

# A script is run again (under fresh names) when the stack had an outage while it ran: at most this often.
MAX_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class Learner:
    id: str
    path: Path

    @property
    def folder(self) -> str:
        """The submission folder's own name (the id may differ from it: see ``learner_ids``)."""
        return self.path.name


# Characters a learner id never holds: path separators and what Windows forbids in file names, what a
# URL, a pytest node id (``test_x[id]``) or a spreadsheet formula would read as syntax, and characters
# that are not visible: whitespace, control and format characters (bidi controls, zero-width spaces).
_UNSAFE_IN_ID = set('<>:"/\\|?*[]#%&;\'`$=+@{}')
# Names that cannot be a file of their own (Windows devices) or would be taken for the HTML overview.
_RESERVED_IDS = {"index", "con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                 *(f"lpt{i}" for i in range(1, 10))}
MAX_SLUG = 40  # characters of an id's readable part


def _slug(name: str) -> str:
    """The readable part of an id: letters and digits of any script kept, the rest replaced by "-"."""
    chars = []
    for ch in name:
        category = unicodedata.category(ch)
        unsafe = ch in _UNSAFE_IN_ID or ch.isspace() or category[0] in "CZ"
        chars.append("-" if unsafe else ch)
    slug = re.sub(r"-{2,}", "-", "".join(chars)).lstrip(".-").rstrip("-")
    return slug[:MAX_SLUG].rstrip(".-")


def _name_hash(name: str, length: int) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def learner_ids(names: list[str]) -> dict[str, str]:
    """Folder name -> learner id, for one class. The id is the folder name itself when that is a safe file
    name, a URL part and a node id and is unique in the class even where case does not count (macOS and
    Windows file systems); otherwise a readable slug of it plus "-" and a short sha256 of the exact name.
    Folders that differ always get different ids, and the same class gives the same ids on every run
    (so regrades and shards line up)."""
    slugs = {name: _slug(name) for name in names}
    count: dict[str, int] = {}
    for slug in slugs.values():
        count[_fold(slug)] = count.get(_fold(slug), 0) + 1
    hashed = {name for name, slug in slugs.items()
              if slug != name or count[_fold(slug)] > 1 or _fold(slug).split(".")[0] in _RESERVED_IDS}
    length = dict.fromkeys(names, 6)
    while True:
        ids = {name: f"{slug or 'learner'}-{_name_hash(name, length[name])}" if name in hashed else slug
               for name, slug in slugs.items()}
        groups: dict[str, list[str]] = {}
        for name, learner_id in ids.items():
            groups.setdefault(_fold(learner_id), []).append(name)
        clashes = [group for group in groups.values() if len(group) > 1]
        if not clashes:
            return ids
        for group in clashes:
            # A plain id that equals another folder's slug and hash gets a hash too; hashes alike get longer.
            plain = [name for name in group if name not in hashed]
            hashed.update(plain)
            if not plain:
                for name in group:
                    length[name] = 64 if length[name] >= 12 else 12


def _fold(name: str) -> str:
    """What a case-insensitive, normalising file system (macOS, Windows) sees of a name."""
    return unicodedata.normalize("NFC", name).casefold()


def class_learners(submissions: Path) -> list[Learner]:
    """Every learner of a ``--submissions`` folder, sorted by folder name: one sub-folder each (names starting
    with "." or "_" left out), ids given over the whole class (``learner_ids``). ``python -m grader
    similarity`` finds a class the same way."""
    folders = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    # Ids are given over the whole class, before --learners and sharding: every run gives a learner the same id.
    ids = learner_ids([p.name for p in folders])
    return [Learner(ids[p.name], p) for p in folders]


def find_learners(cfg: GraderConfig) -> list[Learner]:
    if cfg.submissions:
        learners = class_learners(cfg.submissions)
        if cfg.learners:
            learners = select_learners(learners, cfg.learners, cfg.submissions)
        if cfg.shard:
            index, total = cfg.shard
            learners = learners[index - 1::total]
        return learners
    return [Learner(learner_ids([cfg.submission.name])[cfg.submission.name], cfg.submission)]


def select_learners(learners: list[Learner], names: tuple[str, ...], where: Path) -> list[Learner]:
    """``--learners``: the learners named (by folder name or learner id), in class order; a name that is
    neither is an error naming it."""
    from grader import text
    from grader.i18n import t

    known = {lr.folder: lr for lr in learners} | {lr.id: lr for lr in learners}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(t("learners.unknown", count=len(unknown), path=str(where),
                           names=t("value.sep").join(text.quoted(name) for name in unknown)))
    chosen = {known[name].id for name in names}
    return [lr for lr in learners if lr.id in chosen]


@dataclasses.dataclass
class StackFacts:
    uri: str
    health: int | None
    ui: int | None
    tables: set
    bucket_exists: bool
    store: str


def _status(url: str, headers: dict | None = None) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


class GradingSession:
    """One grading run. Building it only reads options and learner folders: what costs (choosing the backend,
    which may ask Docker and a recorded stack; probing the sandbox; the work folder and its guard process) is
    done on first use, or all at once by ``prepare()``, so ``pytest --help`` and ``--collect-only`` start
    nothing."""

    def __init__(self, cfg: GraderConfig, workerinput: dict | None = None):
        self.cfg = cfg
        # First: an unknown --learners name stops here, before anything is created.
        self.learners = find_learners(cfg)
        self.is_worker = workerinput is not None
        self._workdir: Path | None = None
        self._backend_choice: tuple[str, str] | None = None
        self._info: StackInfo | None = None
        # The stack's failure, kept once: a start that failed (then there is no stack info), or a service
        # found dead for good while grading (see ensure_healthy).
        self._failure: StackError | None = None
        # Makes the names handed to scripts unguessable: a learner knows its own, never another's.
        self.names = Naming.from_workerinput(workerinput) if workerinput else Naming.new()
        self._ledger: Ledger | None = None
        self._accounts: Accounts | None = None
        if workerinput:
            self._workdir = Path(workerinput["handson_workdir"])
            self._backend_choice = tuple(workerinput["handson_backend"])
            if workerinput.get("handson_stack"):
                self._info = StackInfo.from_json(workerinput["handson_stack"])
            if workerinput.get("handson_stack_error"):
                self._failure = _Reported(workerinput["handson_stack_error"],
                                          workerinput.get("handson_stack_error_service") or "stack")
        self._backend = None
        self._db = None
        self._objects = None
        self._auth = None
        self._sandbox: sandbox.Plan | None = None
        self._sandbox_base: Path | None = None
        self.started = time.time()
        # Scripts started ahead of their turn (warm), by (learner id, step), and what this process runs next:
        # (learner, step) pairs in order, set by the plugin from its queue of checks.
        self._ahead: dict = {}
        self.upcoming = lambda: ()

    def prepare(self) -> None:
        """Everything a grading run needs before its header, in the order it always had: the work folder
        (watched by the guard), the backend, the sandbox. A sandbox mode this machine cannot give raises
        ValueError here, before any check runs."""
        self.workdir
        self.backend_name
        self.sandbox

    @property
    def workdir(self) -> Path:
        """This run's work folder (script results, learners' MLflow users), shared with xdist workers;
        the controller creates it on first use and the guard removes it if the grader is killed."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="handson-grading-"))
            guard("+", "d", self._workdir)
        return self._workdir

    @property
    def run_id(self) -> str:
        """This grading run's id: the header and the reports show it; every name it hands out holds it."""
        return self.names.run_id

    @property
    def ledger(self) -> Ledger:
        """The script results of this grading run, in the work folder."""
        if self._ledger is None:
            self._ledger = Ledger(self.workdir)
        return self._ledger

    @property
    def accounts(self) -> Accounts:
        """The learners' MLflow users of this grading run, recorded in the work folder."""
        if self._accounts is None:
            self._accounts = Accounts(self.names, self.workdir)
        return self._accounts

    @property
    def backend_name(self) -> str:
        return self._chosen_backend()[0]

    @property
    def backend_reason(self) -> str:
        """Why that backend: the pytest header and the HTML report say it."""
        return self._chosen_backend()[1]

    def _chosen_backend(self) -> tuple[str, str]:
        if self._backend_choice is None:
            self._backend_choice = choose(self.cfg.stack, self.cfg.compose_files)
        return self._backend_choice

    @property
    def sandbox(self) -> sandbox.Plan:
        """How scripts are isolated here (probed once: it starts bubblewrap)."""
        if self._sandbox is None:
            self._sandbox = sandbox.plan(self.cfg.sandbox)
        return self._sandbox

    # -- the stack ---------------------------------------------------------------------------------
    def stack(self) -> StackInfo:
        """The running stack, started on first use; a failed start is remembered and re-raised."""
        if self._info is None and self._failure is None:
            if self.is_worker:
                raise StackError("grader", "no stack was handed to this worker")
            try:
                options = {"compose_files": self.cfg.compose_files} if self.backend_name == "docker" else {}
                # A stack the grader starts runs in a process of its own (grader/stack/serve.py); this session,
                # like its xdist workers, only reads it.
                self._backend = stack_client(self.backend_name, self.workdir, ports=self.cfg.ports,
                                             timeout=self.cfg.stack_timeout, **options)
                self._info = self._backend.start()
            except StackError as e:
                self._failure = e
        if self._info is None:
            # A stack that died later still answers here: the checks of the learner's own (external) stack read it.
            raise self._reported()
        return self._info

    def _reported(self) -> "_Reported":
        """The remembered failure, to raise again (a fresh exception each time, one description)."""
        return _Reported(self._failure.describe(), self._failure.service)

    def tracking_uri(self) -> str | None:
        """The stack's MLflow URL if one was started or handed over (never starts one)."""
        return self._info.tracking_uri if self._info else None

    def stop(self) -> None:
        self.abandon_ahead()
        if self._db is not None:
            self._db.close()
        if self._auth is not None:
            self._auth.close()
        if self._backend is not None:
            self._backend.stop()
            self._backend = None
        if self._sandbox_base is not None:
            shutil.rmtree(self._sandbox_base, ignore_errors=True)
            guard("-", "d", self._sandbox_base)
            self._sandbox_base = None
        if not self.is_worker and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            guard("-", "d", self._workdir)

    def readers(self):
        from grader.store import AuthDB, ObjectStore, TrackingDB

        info = self.stack()
        if self._db is None:
            self._db = TrackingDB(info.db_url)
            self._objects = ObjectStore(info)
            self._auth = AuthDB(info.auth_db_url) if info.auth_db_url else None
        return self._db, self._objects

    def ensure_healthy(self) -> None:
        """Raise StackError naming the first service that stopped answering. On a stack with a watchdog
        (local, embedded) wait for it to restart the service first. A service found dead for good stays
        dead for this grading run: later checks fail fast instead of waiting on retries."""
        if self._failure is not None:
            raise self._reported()
        info = self.stack()
        self._owner_alive()
        deadline = time.monotonic() + (self.cfg.stack_timeout if info.events_file else 0)
        while True:
            try:
                self._probe()
                return
            except StackError as e:
                if self._failed_for_good() or time.monotonic() > deadline:
                    self._failure = e
                    raise
            time.sleep(1.0)
            self._owner_alive()  # its watchdog went with it: nothing will heal the stack

    def _owner_alive(self) -> None:
        """A stack whose own process ended (killed, crashed) is gone for good: no watchdog is left to wait for.
        The controller knows its serve process's exit code; a worker (or a client of ``stack up``) sees the
        owner's pid in the stack's info."""
        info = self._info
        code = self._backend.exited() if hasattr(self._backend, "exited") else None
        if code is None and (info is None or not info.owner_pid or alive(info.owner_pid)):
            return
        what = f"exited with code {code}" if code is not None else f"(pid {info.owner_pid}) is gone"
        self._failure = StackError("stack", f"the stack's process {what}", getattr(self._backend, "log", None))
        raise self._reported()

    def recover(self) -> bool:
        """After a read failed: True when the stack answers again (healed by its watchdog)."""
        try:
            self.ensure_healthy()
            return True
        except StackError:
            return False

    def generation(self) -> int:
        return watchdog.generation(self.stack().events_file)

    def _outage_since(self, generation: int, last: bool) -> bool:
        """Whether the watchdog acted since ``generation``: failed to restart a service, or (``last`` False)
        restarted one. Older events do not count: a long-lived stack may have healed since."""
        new = watchdog.events(self.stack().events_file)[generation:]
        return any(not ev.get("restarted", True) for ev in new) or (bool(new) and not last)

    def _failed_for_good(self) -> bool:
        """Whether the stack's watchdog ever failed to restart a service: nothing will heal the stack."""
        return self._outage_since(0, last=True)

    def _probe(self) -> None:
        info = self.stack()
        db, objects = self.readers()
        health = info.tracking_uri.rstrip("/") + "/health"
        if not (http_ok(health, timeout=5) or (time.sleep(1.0) or http_ok(health, timeout=10))):
            raise StackError("mlflow", f"{info.tracking_uri}/health stopped answering", info.logs.get("mlflow"))
        try:
            db.ping()
        except Exception as e:
            raise StackError("mysql" if info.bucket else "sqlite", f"the tracking database stopped answering: "
                             f"{str(e).splitlines()[0][:200]}", info.logs.get("mysql")) from e
        try:
            ok = objects.ready()
        except Exception as e:
            ok, cause = False, str(e).splitlines()[0][:200]
        else:
            cause = "the artifact bucket is gone"
        if not ok:
            raise StackError("minio" if info.bucket else "artifacts", f"the artifact store stopped answering: {cause}",
                             info.logs.get("minio"))

    def stack_facts(self) -> StackFacts:
        info = self.stack()
        if info.backend != "external":
            # A stack the grader started and that died is the grader's failure; an external stack
            # (the learner's own docker compose) is what step 1 grades.
            self.ensure_healthy()
        db, objects = self.readers()
        base = info.tracking_uri.rstrip("/")
        try:
            tables = db.table_names()
        except Exception as e:
            raise StackError("mysql", f"cannot list the tracking tables: {str(e).splitlines()[0][:200]}",
                             info.logs.get("mysql")) from e
        return StackFacts(uri=base, health=_status(base + "/health"),
                          ui=_status(base + "/", admin_header(info)), tables=tables,
                          bucket_exists=objects.bucket_exists(), store=objects.label)

    # -- names the scripts receive (grader/naming.py) ---------------------------------------------------
    @property
    def name_prefix(self) -> str:
        """What every name this grading run hands out starts with."""
        return self.names.prefix

    def experiment_name(self, learner: Learner, step: str, attempt: int = 0) -> str:
        return self.names.experiment(learner.id, step, attempt)

    def model_name(self, learner: Learner, attempt: int = 0) -> str:
        return self.names.model(learner.id, attempt)

    # -- scripts -------------------------------------------------------------------------------------
    def sandbox_base(self) -> Path:
        if self._sandbox_base is None:
            self._sandbox_base = sandbox.new_base(self.cfg.data_dir)
            guard("+", "d", self._sandbox_base)
        return self._sandbox_base

    def script_result(self, learner: Learner, step: str) -> ScriptResult:
        """The step's script result: run here, once per grading run, unless a process already did (the ledger)."""
        return self.ledger.result(learner.id, step, learner.path / f"{step}.py", lambda: self._run(learner, step))

    def _run(self, learner: Learner, step: str) -> ScriptResult:
        """Run the script; when the stack went through an outage meanwhile (its watchdog restarted a
        service), run it again under fresh names once the stack answers: that outage was not the learner's."""
        outages: list[dict] = []
        for attempt in range(MAX_ATTEMPTS):
            self.ensure_healthy()
            before = self.generation()
            # A script talking to a stack that went through an outage is stopped at once: what it does next
            # decides nothing (it runs again, or the stack's failure is reported), and MLflow's client would
            # retry for minutes. Not on the last attempt, whose result stands whatever happened meanwhile.
            last = attempt == MAX_ATTEMPTS - 1
            result = self._attempt(learner, step, attempt, lambda: self._outage_since(before, last))
            result.outages = outages
            if result.ok and self.generation() == before:
                return result
            # A script that failed because the stack went away is the stack's failure, not the learner's.
            self.ensure_healthy()
            if self.generation() == before:
                return result
            outages += watchdog.events(self.stack().events_file)[before:]
        return result

    def _attempt(self, learner: Learner, step: str, attempt: int, stop_when=None) -> ScriptResult:
        # A first attempt may have been started ahead, warm (see _start_next); a later one never was.
        pending = self._ahead.pop((learner.id, step), None) if attempt == 0 else None
        if pending is None:
            pending = self._start(learner, step, attempt)
        self._start_next(learner, step)  # it warms while this one runs
        result = pending.go(stop_when)
        result.attempt = attempt
        return result

    def _start(self, learner: Learner, step: str, attempt: int):
        return start_attempt(self.names, learner.id, learner.path, step, self.stack(), self.cfg.data_dir,
                             self.cfg.submission_timeout, credentials=self.credentials(learner), attempt=attempt,
                             plan=self.sandbox, base=self.sandbox_base(), limits=self.cfg.limits(),
                             warm=self.warm_modules)

    @property
    def warm_modules(self) -> tuple[str, ...] | None:
        """What a script's interpreter imports before its turn (grader/warm.py); None with ``--no-warm``."""
        return None if self.cfg.no_warm else WARM_MODULES

    def take_evaluator(self, learner: Learner):
        """The model evaluation's sandbox started ahead for this learner (None if none was); the next script
        then starts warming while the evaluation runs."""
        pending = self._ahead.pop((learner.id, MODEL_EVALUATION), None)
        self._start_next(learner, MODEL_EVALUATION)
        return pending

    def _start_next(self, learner: Learner, step: str) -> None:
        """Start the next script this process will run (``self.upcoming``, told by the plugin), so that its
        interpreter imports MLflow while this one runs. At most one is kept ahead; one that is no longer next
        (graded elsewhere, deselected) is abandoned."""
        if self.warm_modules is None:
            return
        wanted = None
        for other, other_step in self.upcoming():
            if (other.id, other_step) != (learner.id, step) and not self.ledger.has(other.id, other_step):
                wanted = (other, other_step)
                break
        for key in [k for k in self._ahead if wanted is None or k != (wanted[0].id, wanted[1])]:
            self._ahead.pop(key).abandon()
        if wanted is None or (wanted[0].id, wanted[1]) in self._ahead:
            return
        try:
            if wanted[1] == MODEL_EVALUATION:  # the registered model's evaluation, not a learner's script
                from grader.checking import EVALUATE_MODULES, start_evaluator

                self._ahead[(wanted[0].id, wanted[1])] = start_evaluator(self.stack(), self.cfg.data_dir,
                                                                         EVALUATE_MODULES)
                return
            self._ahead[(wanted[0].id, wanted[1])] = self._start(wanted[0], wanted[1], 0)
        except Exception:  # noqa: BLE001 - starting ahead is an optimisation: its turn meets (and tells) the error
            pass

    def abandon_ahead(self) -> None:
        """End the scripts started ahead and never run (the run ended first)."""
        while self._ahead:
            _, pending = self._ahead.popitem()
            try:
                pending.abandon()
            except Exception:  # noqa: BLE001 - best effort at the end of the run; their boxes are in its folder
                pass

    def restarts(self) -> list[dict]:
        """The stack's restarts during this grading run (watchdog events), each with the learners' steps
        whose scripts were running then (and so were run again)."""
        if self._info is None or not self._info.events_file:
            return []
        found = [dict(e, scripts=[]) for e in watchdog.events(self._info.events_file) if e["time"] >= self.started]
        for learner in self.learners:
            for step, record in self.ledger.recorded(learner.id, STEPS).items():
                outages = record.get("outages") or []
                for event in found:
                    if any(o.get("time") == event["time"] and o.get("service") == event["service"] for o in outages):
                        event["scripts"].append([learner.id, step])
        return found

    def credentials(self, learner: Learner) -> tuple[str, str] | None:
        """This learner's own MLflow user for this grading run (created once, whichever worker asks first);
        None on a stack without access control."""
        return self.accounts.credentials(self.stack(), learner.id)

    def outcome(self, learner: Learner, step: str):
        from grader.checking import StepOutcome

        script = self.script_result(learner, step)
        db, objects = self.readers()
        credentials = self.credentials(learner)
        return StepOutcome(learner=learner.id, step=step, submission=learner.path, data_dir=self.cfg.data_dir,
                           script=script, experiment_name=self.experiment_name(learner, step, script.attempt),
                           model_name=self.model_name(learner, script.attempt), stack=self.stack(), db=db, objects=objects,
                           user=credentials[0] if credentials else None, auth=self._auth,
                           run_prefix=self.name_prefix,
                           evaluator=lambda: self.take_evaluator(learner))

    def has_result(self, learner: Learner, step: str) -> bool:
        """Whether the step's script ran in this grading run (the HTML report shows its output then)."""
        return self.ledger.has(learner.id, step)

    def graded_outcome(self, learner: Learner, step: str):
        """The outcome of a step whose script already ran in this grading run (None when it did not: a
        step left out with ``-k`` is never run just to be reported)."""
        if not self.has_result(learner, step):
            return None
        return self.outcome(learner, step)

    def workerinput(self) -> dict:
        """What the controller hands each xdist worker (the stack starts here, once)."""
        try:
            info = self.stack()
        except StackError:
            info = None
        failed = self._failure if info is None else None  # only a failed start: a live stack is handed over
        return {
            **self.names.workerinput(),
            "handson_workdir": str(self.workdir),
            "handson_backend": [self.backend_name, self.backend_reason],
            "handson_stack": info.to_json() if info else None,
            "handson_stack_error": failed.describe() if failed else None,
            "handson_stack_error_service": failed.service if failed else "stack",
        }


class _Reported(StackError):
    """A stack failure already described once (carried from the controller or an earlier attempt)."""

    def __init__(self, text: str, service: str = "stack"):
        Exception.__init__(self, text)
        self.text = text
        self.service = service

    def describe(self) -> str:
        return self.text

