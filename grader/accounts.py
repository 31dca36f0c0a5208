"""Learners' MLflow users: one per learner for a grading run, one per attempt for a practice drill.

On a stack with access control (MLflow's basic-auth app, default permission NO_PERMISSIONS) each learner's
scripts log in as a user of their own, so only that learner can read or change what they created and the
checks can tell a learner's work from someone else's. A stack without access control has no users: the
scripts get no credentials there.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from filelock import FileLock

from grader.stack.base import StackInfo


def create(info: StackInfo, user: str) -> tuple[str, str] | None:
    """Create MLflow user ``user`` with a fresh random password: (user, password), or None on a stack without
    access control. The password is a random token (the server's guard checks those cheaply) and never
    reaches a report: the runner redacts it from the script's output."""
    if not info.admin_user:
        return None
    from grader.stack.auth import create_user

    password = secrets.token_urlsafe(18)
    create_user(info, user, password)
    return user, password


class Accounts:
    """One MLflow user per learner, created the first time any process asks for it.

    With a ``folder`` (the grading run's work folder) the user is recorded there under a file lock, so
    pytest-xdist workers that grade the same learner's steps share one user instead of racing to create
    two. Without one (a practice attempt: one process, one script) it is kept in memory only.
    ``names`` gives the user name (``grader.naming``)."""

    def __init__(self, names, folder: Path | None = None):
        self.names = names
        self.folder = folder
        self._known: dict[str, tuple[str, str] | None] = {}

    def credentials(self, info: StackInfo, learner_id: str) -> tuple[str, str] | None:
        """(user, password) of the learner's own MLflow user; None on a stack without access control."""
        if not info.admin_user:
            return None
        if learner_id not in self._known:
            self._known[learner_id] = self._recorded(info, learner_id) if self.folder else \
                create(info, self.names.user(learner_id))
        return self._known[learner_id]

    def _recorded(self, info: StackInfo, learner_id: str) -> tuple[str, str]:
        path = self.folder / f"{learner_id}.user.json"
        with FileLock(str(path) + ".lock"):
            if path.exists():
                data = json.loads(path.read_text())
                return data["user"], data["password"]
            user, password = create(info, self.names.user(learner_id))
            path.write_text(json.dumps({"user": user, "password": password}))
            return user, password
