"""A check's outcome, decided in one place: passed, failed, not graded, or error.

The pytest plugin, the practice drills and the HTML report all ask this module what an exception raised
by a check means. The verdict follows from the exception's *type*, never from the module it came from:

* ``CheckFailed``, a plain ``assert`` and ``pytest.fail`` — the learner's work does not hold: **failed**;
* a failed check that needs another check (``Check.needs``) which failed or was not graded itself —
  **not graded**: the same mistake seen again; it is reported once, at its root, and costs no second
  expected/found block;
* ``Tampered`` — someone other than the learner changed their data: **error**;
* ``StackError`` and the exceptions of a service that did not answer (refused or dropped connections,
  timeouts, a 502/503/504 from the MLflow server) — **error** naming the service; the plugin waits for
  the stack's watchdog and reads again;
* anything else, an HTTP 404 from a check's request included — the grader's own bug: **error** (internal).
"""

from __future__ import annotations

import dataclasses
import socket
import urllib.error

from grader.checking import CheckFailed, Tampered
from grader.i18n import t
from grader.stack.base import StackError

PASSED, FAILED, NOT_GRADED, ERROR = "passed", "failed", "not_graded", "error"
STATUSES = (PASSED, FAILED, NOT_GRADED, ERROR)
# The mark of each outcome in the terminal summary, the practice view and the HTML pages.
MARKS = {PASSED: "✔", FAILED: "✘", NOT_GRADED: "–", ERROR: "!"}
# Answers of a server that is there but not serving right now (a restart, a proxy in front of it).
_UNAVAILABLE = (502, 503, 504)


@dataclasses.dataclass(frozen=True)
class Verdict:
    status: str
    message: str = ""
    # ERROR: the stack service that failed (None: tampering or the grader's own error)
    service: str | None = None
    # NOT_GRADED: the failed checks at the root of it
    needs: tuple[str, ...] = ()
    # ERROR: the grader's own bug (its traceback is worth showing to the grader's developers)
    internal: bool = False


def _types(*names: str) -> tuple[type, ...]:
    """Exception classes by dotted name, those whose library is installed (all are, through mlflow)."""
    import importlib

    found = []
    for name in names:
        module, _, attr = name.rpartition(".")
        try:
            found.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def service_down(exc: BaseException) -> str | None:
    """The stack service an exception says did not answer, or None when it says something else.

    By type: a refused connection, a dropped one and a timeout are an outage; an answer (a 404, an SQL
    error in the grader's query, an S3 "no such key") is not, whatever library raised it."""
    if isinstance(exc, StackError):
        return exc.service
    if isinstance(exc, _types("sqlalchemy.exc.OperationalError", "sqlalchemy.exc.InterfaceError",
                              "sqlalchemy.exc.DisconnectionError", "sqlalchemy.exc.TimeoutError",
                              "pymysql.err.OperationalError", "pymysql.err.InterfaceError")):
        return "mysql"
    if isinstance(exc, _types("minio.error.ServerError", "urllib3.exceptions.MaxRetryError",
                              "urllib3.exceptions.NewConnectionError", "urllib3.exceptions.ProtocolError",
                              "urllib3.exceptions.TimeoutError")):
        return "minio"
    if isinstance(exc, urllib.error.HTTPError):
        return "mlflow" if exc.code in _UNAVAILABLE else None
    if isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout)):
        return "mlflow"
    return None


def is_learner_failure(exc: BaseException) -> bool:
    """What the check found does not hold (as opposed to: it could not look)."""
    import pytest

    return isinstance(exc, (CheckFailed, AssertionError, pytest.fail.Exception))


def as_check_failed(exc: BaseException) -> CheckFailed:
    """A learner failure as a ``CheckFailed``: a plain ``assert`` or ``pytest.fail`` in a check reads like
    any failed check (expected, found, hint), with the assertion's first line as what was found."""
    if isinstance(exc, CheckFailed):
        return exc
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "-"
    return CheckFailed("outcome.assert_failed", detail=detail)


def blocked_by(needs, verdicts: dict[str, Verdict]) -> tuple[str, ...]:
    """The failed checks at the root of ``needs``: a needed check that failed, or the roots of one that was
    not graded itself. Empty when every needed check passed or was not graded in this run."""
    roots: list[str] = []
    for need in needs:
        found = verdicts.get(need)
        if found is None:
            continue
        for root in ((need,) if found.status == FAILED else found.needs if found.status == NOT_GRADED else ()):
            if root not in roots:
                roots.append(root)
    return tuple(roots)


def not_graded(check_id: str, roots: tuple[str, ...]) -> Verdict:
    return Verdict(NOT_GRADED, t("outcome.not_graded", needs=t("value.sep").join(roots)), needs=roots)


def judge(exc: BaseException | None, check_id: str, *, failure=None, needs=(),
          verdicts: dict[str, Verdict] | None = None) -> Verdict:
    """The verdict on one check that raised ``exc`` (None: it raised nothing, it passed).

    ``failure(check_failed)`` renders a learner failure (expected/found/hint); it is called only when the failure is
    reported, so a not-graded check leaves no trace (no "output shown under" bookkeeping). ``needs``: the
    check's needed checks, ``verdicts``: check id -> verdict of the checks graded before it for this
    learner. A check that passes passes, whatever its needed checks did: what the learner did right counts.
    """
    if exc is None:
        return Verdict(PASSED)
    if is_learner_failure(exc):
        roots = blocked_by(needs, verdicts or {})
        if roots:
            return not_graded(check_id, roots)
        failed = as_check_failed(exc)
        return Verdict(FAILED, failure(failed) if failure is not None else failed.render())
    if isinstance(exc, Tampered):
        return Verdict(ERROR, t("tamper.error", check=check_id) + "\n" + exc.describe())
    service = service_down(exc)
    if service is not None:
        detail = exc.describe() if isinstance(exc, StackError) else f"{type(exc).__name__}: {exc}"
        return Verdict(ERROR, t("infra.error", check=check_id, service=service) + "\n" + detail, service=service)
    return Verdict(ERROR, t("internal.error", check=check_id, error=f"{type(exc).__name__}: {exc}"), internal=True)
