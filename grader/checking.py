"""What a check sees: one learner's step — the script's result and what it left in the stack.

A check states one fact. When the fact does not hold it raises ``CheckFailed`` with a message key and
values; the plugin renders it in the learner's language with the check's hint and the tail of the
script's output. Nothing here is a pytest assertion, so no grader traceback can reach the learner.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Callable

from grader import text
from grader.runner import ScriptResult
from grader.stack.auth import admin_header
from grader.stack.base import StackInfo
from grader.store import AuthDB, Experiment, ObjectStore, Run, TrackingDB, artifact_key


class CheckFailed(Exception):
    def __init__(self, key: str, /, **values):
        self.key = key
        self.values = values
        super().__init__(key)

    def parts(self) -> tuple[str, ...]:
        """(expected, found) in the learner's language, values rendered by ``fmt``; a name the message
        quotes (``{name!r}``) is quoted from its exact text."""
        from grader.i18n import quoted_fields, t_parts

        quoted = quoted_fields(self.key)
        return t_parts(self.key, **{k: v if k in quoted and type(v) is str else text.Formatted(fmt(v))
                                    for k, v in self.values.items()})

    def render(self) -> str:
        """An "expected" line and a "found" line (continuation lines indented under their label)."""
        from grader.i18n import t

        parts = self.parts()
        if len(parts) != 2:
            return "\n".join(parts)
        return "\n".join(labelled(t(label), text) for label, text in zip(("label.expected", "label.found"), parts))


def labelled(label: str, text: str) -> str:
    """``label`` then ``text``; further lines of ``text`` start under the text, not under the label."""
    pad = " " * (len(label) + sum(1 for ch in label if ord(ch) > 0x2E80))
    return label + text.replace("\n", "\n" + pad)


class Tampered(Exception):
    """Something handed to this learner was made or changed by another MLflow user: not the learner's
    mistake. Reported as an error (``!``), never as a failed check."""

    def __init__(self, what: str, name: str, owners):
        self.what, self.name, self.owners = what, name, sorted(owners)
        super().__init__(self.describe())

    def describe(self) -> str:
        from grader.i18n import t

        from grader.messages import MESSAGES

        kind = f"tamper.what.{self.what}"  # what was tampered with, in the reader's language
        return t("tamper.found", what=t(kind) if kind in MESSAGES else self.what, name=self.name,
                 owners=t("value.sep").join(self.owners) or t("value.unknown"))


class Output(str):
    """Lines of the learner's script output, shown as such (every line marked, see ``text.output_block``)."""


class AtStep(tuple):
    """A metric value and the step it was logged at, rendered in the learner's language."""

    def __new__(cls, value, step):
        return super().__new__(cls, (value, step))


def fmt(value) -> str:
    """Values in the learner's language: strings on one line (control characters written out), names and
    values in a container quoted as Python writes them, flags as yes/no, nothing as "none", the script's
    output as marked lines; never a bare Python container or None/True/False."""
    from grader.i18n import t

    if isinstance(value, Output):
        return text.output_block(value)
    if isinstance(value, text.Formatted):
        return value
    if isinstance(value, str):
        return text.clean(value, text.MAX_VALUE, inline=True)
    if value is None:
        return t("value.none")
    if isinstance(value, bool):
        return t("value.yes" if value else "value.no")
    if isinstance(value, AtStep):
        return t("value.at_step", value=fmt(value[0]), step=value[1])
    if isinstance(value, float):
        return text.number(value)
    if isinstance(value, dict):
        if not value:
            return t("value.empty")
        return t("value.sep").join(f"{text.clean(k, text.MAX_NAME, inline=True)} = {_item(v)}"
                         for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    if isinstance(value, (list, tuple, set)):
        items = sorted(value, key=str) if isinstance(value, set) else list(value)
        return t("value.sep").join(_item(v) for v in items) if items else t("value.empty")
    return repr(value)


def _item(value) -> str:
    if type(value) is tuple:
        return "(" + ", ".join(_item(v) for v in value) + ")"
    if value is None or isinstance(value, (bool, AtStep, dict, list, set)):
        return fmt(value)
    if isinstance(value, float):
        return text.number(value)
    if isinstance(value, str):
        return text.quoted(value)
    return repr(value)


def shown(found: str) -> str:
    """A found string as the learner can see it: quoted, with invisible characters (newlines, tabs,
    trailing spaces, zero-width or non-breaking spaces) written out as Python would."""
    return text.Formatted(text.quoted(found, text.MAX_VALUE))


def fail(message: str, /, **values):
    raise CheckFailed(message, **values)


def expect(condition: bool, message: str, /, **values) -> None:
    if not condition:
        raise CheckFailed(message, **values)


def same_number(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


# Run inside a sandbox (loading a learner's pickle runs whatever code it holds): the registered model's RMSE
# on the validation rows of data/regression.csv (rows 161-200), printed on a line of its own.
_EVALUATE = """
import os, pickle, sys
import numpy as np
import yaml
table = np.loadtxt(os.path.join(os.environ["HANDSON_DATA_DIR"], "regression.csv"), delimiter=",", skiprows=1)
flavor = (yaml.safe_load(open(os.path.join("model", "MLmodel"))) or {}).get("flavors", {}).get("sklearn") or {}
if flavor.get("serialization_format", "cloudpickle") in ("pickle", "cloudpickle"):
    # what mlflow.sklearn.load_model does for these formats, without importing mlflow (seconds here)
    with open(os.path.join("model", flavor.get("pickled_model", "model.pkl")), "rb") as f:
        model = pickle.load(f)
else:
    import mlflow.sklearn
    model = mlflow.sklearn.load_model("model")
error = np.asarray(model.predict(table[160:, :3]), dtype=float) - table[160:, 3]
print("HANDSON_RMSE", repr(float(np.sqrt(np.mean(error ** 2)))), sys.argv[1])
"""
MAX_MODEL_FILES = 50
# What the evaluation's interpreter imports before its turn when it is started ahead (see start_evaluator):
# MLflow 3 stores scikit-learn models with skops by default, which _EVALUATE loads through mlflow.sklearn.
EVALUATE_MODULES = ("numpy", "yaml", "sklearn.linear_model", "mlflow.sklearn", "skops.io")


def start_evaluator(stack: StackInfo, data_dir: Path, warm: tuple[str, ...] | None = None):
    """The sandbox that evaluates a stored model (``StepOutcome.model_rmse``), started: its ``evaluate.py``
    (with a fresh nonce, ``.nonce``), and with ``warm`` its interpreter importing those modules meanwhile.
    The model's files are written into its folder (``.box.cwd / "model"``) just before ``go()``."""
    import secrets
    import tempfile

    from grader.runner import start_script

    nonce = secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="handson-model-") as tmp:
        folder = Path(tmp) / "evaluate"
        folder.mkdir()
        (folder / "evaluate.py").write_text(_EVALUATE.replace('sys.argv[1]', repr(nonce)))
        pending = start_script(folder, "evaluate.py", stack, "-", data_dir, "-", 120.0, warm=warm)
    pending.nonce = nonce
    return pending


@dataclasses.dataclass
class StepOutcome:
    learner: str
    step: str
    submission: Path
    data_dir: Path
    script: ScriptResult
    experiment_name: str
    model_name: str
    stack: StackInfo
    db: TrackingDB
    objects: ObjectStore
    # the learner's own MLflow user and the auth app's database (None on stacks without access control)
    user: str | None = None
    auth: AuthDB | None = None
    # what every name this grading run hands out starts with
    run_prefix: str = "handson-"
    # the model evaluation's sandbox when the session started it ahead (start_evaluator), else None
    evaluator: Callable[[], object | None] | None = None
    _experiments: list | None = None

    def reset(self) -> None:
        """Forget what was read (to read again after the stack recovered from an outage)."""
        self._experiments = None

    def _check_owner(self, kind: str, resource_id: str, name: str) -> None:
        """Only what the learner's own MLflow user created counts; anyone else's hand in it is tampering."""
        if self.user is None or self.auth is None:
            return
        owners = self.auth.owners(kind, resource_id)
        if self.user not in owners:
            raise Tampered(kind, name, owners)

    # -- experiments ------------------------------------------------------------------------------
    def experiments(self) -> list[Experiment]:
        if self._experiments is None:
            # Provenance: only what this grading run's script made counts — the experiment it was handed
            # (created after the script started) and the runs started in it since.
            found = [e for e in self.db.experiments_named(self.experiment_name)
                     if (e.creation_time or 0) >= self.script.started_ms]
            for exp in found:
                self._check_owner("experiment", exp.experiment_id, exp.name)
                exp.runs = [r for r in exp.runs if (r.start_time or 0) >= self.script.started_ms]
            self._experiments = found
        return self._experiments

    def other_models(self) -> list[str]:
        """Registered models the script created under other names (to spot a hard-coded model name)."""
        until = self.script.started_ms + int((self.script.duration + 2) * 1000)
        names = self.db.registered_models_between(self.script.started_ms, until)
        if self.user is not None and self.auth is not None:
            names = [n for n in names if self.user in self.auth.owners("registered_model", n)]
        return sorted(n for n in names if n != self.model_name and not n.startswith(self.run_prefix))

    def model_rmse(self, prefix: str, files: list[str]) -> tuple[float | None, str]:
        """(RMSE of the model stored under ``prefix`` on the validation rows, None) or (None, why not), computed
        by loading it with mlflow.sklearn in a sandbox of its own, like a learner's script (started ahead by
        the session when it could, else here)."""
        pending = (self.evaluator() if self.evaluator is not None else None) or start_evaluator(
            self.stack, self.data_dir)
        try:
            model = pending.box.cwd / "model"
            model.mkdir(mode=0o755)
            for name in files[:MAX_MODEL_FILES]:
                target = (model / name).resolve()
                data = self.objects.get(f"{prefix}/{name}")
                if data is None or model.resolve() not in target.parents:
                    continue
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                target.write_bytes(data)
                target.chmod(0o644)  # the sandbox's own user reads it
        except BaseException:
            pending.abandon()
            raise
        result = pending.go()
        for line in result.output.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "HANDSON_RMSE" and parts[2] == pending.nonce:
                try:
                    return float(parts[1]), ""
                except ValueError:
                    break
        return None, (result.tail(3) or f"exit code {result.returncode}").strip()[-300:]

    def model_versions(self):
        """Versions of the learner's registered model (its creator must be the learner's own user)."""
        versions = self.db.model_versions(self.model_name)
        if self.db.registered_model_exists(self.model_name):
            self._check_owner("registered_model", self.model_name, self.model_name)
        return versions

    def experiment(self, active_only: bool = False) -> Experiment:
        every = self.experiments()
        found = [e for e in every if e.lifecycle_stage == "active"] if active_only else every
        if len(found) != 1:
            if every and not found:
                fail("experiment.deleted", name=self.experiment_name)
            if not found:
                elsewhere = self.runs_elsewhere()
                if elsewhere:
                    from grader.i18n import t

                    fail("experiment.runs_elsewhere", name=self.experiment_name, where=t("value.sep").join(elsewhere))
            others = self.other_experiments()
            if not found and not others and self.script.exists and not self.script.ok:
                fail("experiment.script_stopped", name=self.experiment_name)
            fail("experiment.missing", name=self.experiment_name, others=others)
        return found[0]

    def other_experiments(self) -> list[str]:
        """Names of experiments the script created under other names (to spot a hard-coded name): made
        while it ran, by the learner's own MLflow user where there is access control (never another
        learner's), and not one of the names this grading run hands out."""
        until = self.script.started_ms + int((self.script.duration + 2) * 1000)
        found = self.db.experiments_between(self.script.started_ms, until)
        if self.user is not None and self.auth is not None:
            found = [(i, n) for i, n in found if self.user in self.auth.owners("experiment", i)]
        return sorted(n for _, n in found if not n.startswith(self.run_prefix))

    def runs_elsewhere(self) -> list[str]:
        """Where the script's runs went when not into its experiment: 'Default' (id 0) when it never called
        set_experiment, or an experiment of its own naming. Runs started while it ran, in experiments that are
        not one of this grading run's names; where there is access control, only the learner's own
        experiments (nobody else's work is ever shown to them)."""
        until = self.script.started_ms + int((self.script.duration + 2) * 1000)
        found = self.db.run_experiments_between(self.script.started_ms, until)
        if self.user is not None and self.auth is not None:
            found = [(i, n) for i, n in found if self.user in self.auth.owners("experiment", i)]
        from grader.i18n import t

        return [t("experiment.where", name=text.quoted(n), id=i) for i, n in found if not n.startswith(self.run_prefix)]

    # -- runs -------------------------------------------------------------------------------------
    def runs(self) -> list[Run]:
        exps = self.experiments()
        return exps[0].runs if exps else []

    def runs_named(self, name: str) -> list[Run]:
        """Runs with this name. Deleting the experiment marks its runs deleted too; that mistake is
        step N.experiment's to report, so those runs still count here."""
        exps = self.experiments()
        experiment_deleted = bool(exps) and exps[0].lifecycle_stage == "deleted"
        return [r for r in self.runs() if r.name == name and (r.lifecycle_stage == "active" or experiment_deleted)]

    def run_named(self, name: str) -> Run:
        """Exactly one run with this name in the experiment, whatever its status."""
        self.experiment()
        found = self.runs_named(name)
        if len(found) != 1:
            fail("run.count", name=name, count=len(found), experiment=self.experiment_name,
                 names=sorted({r.name or "" for r in self.runs()}))
        return found[0]

    def expect_finished(self, run: Run) -> None:
        if run.status == "RUNNING":
            # Stopped by the timeout: its `with` blocks never got to end the run; telling it how to end runs
            # would send the learner after code that is already right.
            if self.script.timed_out:
                fail("run.cut_off", name=run.name)
            # Left open: the fluent API ends a run at the end of `with`, the client API by set_terminated.
            fail("run.still_running", name=run.name)
        expect(run.status == "FINISHED", "run.status", name=run.name, status=run.status)

    # -- artifacts --------------------------------------------------------------------------------
    def artifact_prefix(self, run: Run) -> str:
        key = artifact_key(run.artifact_uri)
        if key is None:
            fail("artifact.not_proxied", name=run.name, uri=run.artifact_uri)
        return key

    def artifact(self, run: Run, path: str) -> bytes:
        """An artifact's bytes as the tracking server serves them (where they are stored is
        step3.in_object_store's business)."""
        import urllib.error
        import urllib.parse
        import urllib.request

        query = urllib.parse.urlencode({"run_id": run.run_id, "path": path})
        url = f"{self.stack.tracking_uri.rstrip('/')}/get-artifact?{query}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=admin_header(self.stack)),
                                        timeout=30) as resp:
                return resp.read()
        except urllib.error.HTTPError:
            fail("artifact.missing", name=run.name, path=path, found=self.listed_artifacts(run))

    def json_artifact(self, run: Run, path: str):
        data = self.artifact(run, path)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            fail("artifact.not_json", path=path, error=str(e))

    def listed_artifacts(self, run: Run) -> list[str]:
        """Files the MLflow REST API lists for the run (recursively), relative to its artifact root."""
        import urllib.error
        import urllib.parse
        import urllib.request

        base = self.stack.tracking_uri.rstrip("/") + "/api/2.0/mlflow/artifacts/list"
        files, todo = [], [""]
        while todo:
            path = todo.pop()
            query = {"run_id": run.run_id, **({"path": path} if path else {})}
            try:
                request = urllib.request.Request(f"{base}?{urllib.parse.urlencode(query)}",
                                                 headers=admin_header(self.stack))
                with urllib.request.urlopen(request, timeout=15) as resp:
                    listing = json.load(resp)
            except urllib.error.HTTPError:  # the server answered: nothing it can list there
                listing = {}
            for entry in listing.get("files", []):
                (todo if entry.get("is_dir") else files).append(entry["path"])
        return sorted(files)
