"""The names a grading run hands to learners' scripts: experiments, registered models, MLflow users.

Each name carries a part keyed with a secret of the grading run, so a learner knows its own names and can
never guess another's (DESIGN.md, the submission contract). The controller draws the run id and the key;
pytest-xdist workers rebuild the same ``Naming`` from ``workerinput`` so that every process hands a learner
the same names. A practice attempt has names of its own (``PracticeNaming``), with the same interface, so
the code that runs a script and reads what it left does not care which it got.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import secrets


class Naming:
    """The keyed names of one grading run, a pure function of (run id, key)."""

    def __init__(self, run_id: str, key: bytes):
        self.run_id = run_id
        self.key = key

    @classmethod
    def new(cls) -> "Naming":
        """A fresh grading run: a readable, time-ordered id, and a random key nobody outside the grader sees."""
        return cls(datetime.datetime.now().strftime("%m%d-%H%M%S-") + secrets.token_hex(2), secrets.token_bytes(16))

    def workerinput(self) -> dict:
        """What an xdist worker needs to hand out the controller's names (see ``from_workerinput``)."""
        return {"handson_run_id": self.run_id, "handson_name_key": self.key.hex()}

    @classmethod
    def from_workerinput(cls, workerinput: dict) -> "Naming":
        return cls(workerinput["handson_run_id"], bytes.fromhex(workerinput["handson_name_key"]))

    def secret_part(self, *parts: str) -> str:
        """12 hex digits only someone holding the key can compute for ``parts``."""
        return hmac.new(self.key, "/".join(parts).encode(), hashlib.sha256).hexdigest()[:12]

    @property
    def prefix(self) -> str:
        """What every name this grading run hands out starts with (the checks tell this run's names from
        a learner's own by it)."""
        return f"handson-{self.run_id}-"

    def experiment(self, learner_id: str, step: str, attempt: int = 0) -> str:
        """``HANDSON_EXPERIMENT``: one per learner, step and attempt (a script run again after a stack outage
        gets a fresh name, so what the interrupted run left never counts)."""
        again = f"-r{attempt}" if attempt else ""
        return f"{self.prefix}{learner_id}-{step}{again}-{self.secret_part('experiment', learner_id, step, str(attempt))}"

    def model(self, learner_id: str, attempt: int = 0) -> str:
        """``HANDSON_MODEL_NAME``: one per learner and attempt."""
        again = f"-r{attempt}" if attempt else ""
        return f"{self.prefix}model-{learner_id}{again}-{self.secret_part('model', learner_id, str(attempt))}"

    def user(self, learner_id: str) -> str:
        """The learner's MLflow user name. ASCII only: it travels in HTTP basic-auth headers and the auth
        app's logs; the keyed part keeps two learners whose ids read alike apart."""
        readable = re.sub(r"[^A-Za-z0-9_.-]+", "", learner_id).strip(".-") or "learner"
        return f"{readable}-{self.secret_part('user', learner_id)[:6]}"


class PracticeNaming:
    """One practice attempt's names: a fresh random token per grade, so an attempt graded again never sees
    what the previous one left. One learner and one script per attempt: the learner id, step and attempt the
    interface takes do not enter the names."""

    prefix = "practice-"

    def __init__(self, drill_id: str, token: str | None = None):
        self.drill_id = drill_id
        self.token = token or secrets.token_hex(6)

    def experiment(self, learner_id: str, step: str, attempt: int = 0) -> str:
        return f"{self.prefix}{self.drill_id}-{self.token}"

    def model(self, learner_id: str, attempt: int = 0) -> str:
        return f"{self.prefix}{self.drill_id}-model-{self.token}"

    def user(self, learner_id: str) -> str:
        return f"{self.prefix}{self.token}"
