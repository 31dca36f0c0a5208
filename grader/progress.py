"""A learner's own record of their grading runs: ``.handson/progress.json`` in their repository.

Every grading run of one submission (``pytest``, ``pytest -k step2``, ``pytest --submission DIR``; never a
class run with ``--submissions``) ends by calling ``record`` from the plugin: per step, how many runs graded
it, each of its checks' last status, its points, and when all its checks first passed. ``python -m grader
progress`` shows it as a table and ``python -m grader hint`` reads the last statuses from it (and keeps the
hint level each check reached under ``hints``). The checks never read it: a grade depends on the stack only.

Where it lives (``progress_path``): a submission folder at the top of a hands-on repository (``exercises/``
beside ``checks/``, in this repository or in a learner's release) keeps it in that repository's
``.handson/``; any other submission folder keeps it in its own ``.handson/``.

Writing never fails a grading run: the file is written whole to a temporary file and moved into place
(``os.replace``), a file that cannot be read as a record is started afresh, and an unwritable folder gives
a one-line warning.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from pathlib import Path

from grader import catalog

FOLDER = ".handson"
NAME = "progress.json"
VERSION = 1
PASSED = "passed"


def repository_of(submission: Path) -> Path:
    """The folder whose ``.handson/`` holds the record of ``submission``'s grading runs."""
    submission = Path(submission)
    return submission.parent if (submission.parent / "checks").is_dir() else submission


def progress_path(submission: Path) -> Path:
    return repository_of(submission) / FOLDER / NAME


def empty() -> dict:
    return {"version": VERSION, "steps": {}, "hints": {}}


def load(path: Path) -> tuple[dict, str | None]:
    """The record at ``path`` (an empty one when there is none) and, when the file was there but is not a
    record, why (the caller warns; the next write replaces it)."""
    try:
        raw = _read_own(path)
    except FileNotFoundError:
        return empty(), None
    except (OSError, UnicodeDecodeError) as e:
        return empty(), f"{type(e).__name__}: {e}"
    try:
        data = json.loads(raw)
    except ValueError as e:
        return empty(), f"{type(e).__name__}: {e}"
    if not (isinstance(data, dict) and isinstance(data.get("steps", {}), dict)
            and isinstance(data.get("hints", {}), dict)
            and all(isinstance(v, dict) and isinstance(v.get("checks", {}), dict)
                    for v in data.get("steps", {}).values())):
        return empty(), "not a progress record"
    # Only what a record holds is kept: nothing else in the file is carried into the next one.
    return {"version": VERSION, "steps": data.get("steps", {}), "hints": data.get("hints", {})}, None


def _read_own(path: Path) -> str:
    """The record's text, never through a symbolic link: the grader may run as root (an instructor grading
    one learner's repository), and the folder is the learner's — a ``.handson`` or ``progress.json`` linked
    to a file of the grader's (its stack file holds passwords) must not be read into the learner's record."""
    _not_a_link(path.parent)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, encoding="utf-8") as f:
        return f.read()


def _not_a_link(folder: Path) -> None:
    if folder.is_symlink():
        raise OSError(f"{folder} is a symbolic link")


def save(path: Path, data: dict) -> None:
    """Write ``data`` whole, or leave the previous file as it was (OSError goes to the caller)."""
    _not_a_link(path.parent)  # written into the learner's folder: never through a link of theirs
    path.parent.mkdir(parents=True, exist_ok=True)
    _not_a_link(path.parent)
    fd, temp = tempfile.mkstemp(prefix=f".{NAME}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def merge(data: dict, results, when: str) -> dict:
    """``data`` with one grading run's ``results`` (report.Result of one learner) added, at time ``when``."""
    graded: dict[str, dict[str, str]] = {}
    for r in results:
        if r.check in catalog.BY_ID:
            graded.setdefault(catalog.get(r.check).step, {})[r.check] = r.status
    for step, statuses in graded.items():
        entry = data["steps"].setdefault(step, {})
        checks = entry.get("checks") if isinstance(entry.get("checks"), dict) else {}
        checks.update(statuses)
        entry["checks"] = checks
        entry["attempts"] = int(entry.get("attempts") or 0) + 1
        entry["last_graded"] = when
        mine = [c for c in catalog.CHECKS if c.step == step]
        entry["points"] = sum(c.points for c in mine if checks.get(c.id) == PASSED)
        entry["max"] = sum(c.points for c in mine)
        if entry["points"] == entry["max"] and not entry.get("passed_at"):
            entry["passed_at"] = when
    return data


def record(submission: Path, results, when: str | None = None) -> str | None:
    """Add one grading run of ``submission`` to its record. Returns a one-line warning for the terminal
    (the record was unreadable and started afresh, or could not be written), else None. Never raises OSError."""
    from grader.i18n import t

    path = progress_path(submission)
    data, broken = load(path)
    try:
        merge(data, results, when or now())
    except (TypeError, ValueError, AttributeError):  # a record edited by hand into another shape
        data, broken = merge(empty(), results, when or now()), "not a progress record"
    try:
        save(path, data)
    except OSError as e:
        return t("loop.progress_not_written", path=str(path), error=f"{type(e).__name__}: {e}")
    if broken:
        return t("loop.progress_replaced", path=str(path), error=broken)
    return None
