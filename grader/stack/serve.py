"""The stack's own process, and the grader's handle on it.

A stack the grader starts (``local``, ``embedded``, ``docker``) always runs in a process of its own,
``python -m grader.stack.serve``: it builds the backend, starts it, writes the ``StackInfo`` to a private
stack file (0600) and says so on its stdout in one JSON line, then holds the stack until it is told to stop
(SIGTERM, SIGINT, SIGHUP) or its parent dies. Its services are its children; the backend's watchdog and the
guard that kills them if it is itself killed run there too. ``python -m grader stack up`` runs the same owner
loop (``hold``) in the foreground, telling the terminal instead of a client.

Whoever grades (pytest's controller and its xdist workers, ``python -m grader practice grade``) is a client:
``StackProcess`` starts the serve process on first need, waits for its line while watching it (an exit before
it is ready is reported at once, with its log), and reads the stack file like any recorded stack. The client
never holds a service process, so there is one lifecycle and no branch for who started what.

The serve process runs in a session of its own: a Ctrl-C in the terminal reaches the grader only, and the
grader decides when the stack goes (after the reports that still read it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol

from grader.stack.base import StackError, StackInfo, alive, guard, kill_group

# Exit codes of the serve process.
FAILED, INTERRUPTED, ORPHANED = 1, 130, 3
# How long the client waits for the serve process to stop the stack before killing it (its guard then
# kills the services): the backends' own stop gives each service 10 s.
STOP_WAIT = 45.0


# -- the serve process -----------------------------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    """Exit when the grader is gone (SIGKILLed: nothing else tells us). Exiting closes this process's pipe
    to its guard, which kills every service group and removes the stack's folders at once: no graceful
    stop, nobody is left to read the stack. Polled rather than PR_SET_PDEATHSIG, which fires when the
    parent's *thread* that started us ends, and is Linux-only."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(ORPHANED)


class Owner(Protocol):
    """What an owner tells the world while it holds a stack: the serve process in JSON lines to its client,
    ``python -m grader stack up`` in words to the person at the terminal."""

    def ready(self, info: StackInfo, path: Path) -> None: ...
    def failed(self, error: StackError) -> None: ...
    def event(self, event: dict) -> None: ...
    def stopping(self) -> None: ...
    def stopped(self) -> None: ...


def _dead_service(info: StackInfo) -> str | None:
    """A service of a stack without a watchdog (no events file) whose process is gone."""
    return next((name for name, pid in info.pids.items() if pid and not alive(pid)), None)


def hold(backend, path: Path, owner: Owner, *, parent: int | None = None, end_on_failure: bool = False) -> int:
    """Start ``backend``, record it in the stack file ``path`` (0600, with this process as its owner), and hold
    it until SIGTERM / SIGINT / SIGHUP, the death of ``parent``, or (``end_on_failure``) a service that failed
    for good; then remove the file and stop the stack. The one owner loop of the grader: the serve process
    and ``stack up`` both run it. Restarts the watchdog records are passed to ``owner.event`` as they come."""
    from grader.stack import watchdog
    from grader.stack.external import write_stack_file

    stopping: list[int] = []

    def on_signal(signum, _frame):
        if not stopping:  # the first one stops the stack; later ones must not cut its teardown short
            stopping.append(signum)
            raise KeyboardInterrupt(f"signal {signum}")

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        signal.signal(getattr(signal, name), on_signal)
    if parent is not None:
        if os.getppid() != parent:
            return ORPHANED
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="handson-parent").start()
    started = False
    code = 0
    try:
        try:
            info = backend.start()  # a failed or interrupted start stops what it started
        except StackError as e:
            owner.failed(e)
            return FAILED
        started = True
        info = dataclasses.replace(info, owner_pid=os.getpid())
        write_stack_file(info, path)
        owner.ready(info, path)
        seen = 0
        while True:
            time.sleep(1.0)
            if info.events_file:  # the stack heals itself: pass restarts on; a failed one may end the hold
                events = watchdog.events(info.events_file)
                for event in events[seen:]:
                    owner.event(event)
                seen = len(events)
                if end_on_failure and any(not e.get("restarted") for e in events):
                    code = FAILED
                    break
            elif end_on_failure and (dead := _dead_service(info)):
                owner.event({"service": dead, "restarted": False})
                code = FAILED
                break
    except KeyboardInterrupt:
        # Told to stop once the stack was up is how a hold ends (Ctrl-C on ``stack up``, the client's SIGTERM).
        code = 0 if started else INTERRUPTED
    finally:
        path.unlink(missing_ok=True)
        if started:
            owner.stopping()
        backend.stop()
        if started:
            owner.stopped()
    return code


class _Client:
    """The serve process's side of the protocol: one JSON line on its original stdout."""

    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)  # anything a library prints goes to the log (stderr), never into the protocol

    def _say(self, message: dict) -> None:
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def ready(self, info: StackInfo, path: Path) -> None:
        self._say({"ready": str(path)})

    def failed(self, error: StackError) -> None:
        self._say({"error": {"service": error.service, "cause": error.cause, "log": error.log, "tail": error.tail}})

    def event(self, event: dict) -> None:
        pass  # the client reads the watchdog's events file itself

    def stopping(self) -> None:
        pass

    def stopped(self) -> None:
        pass


def serve(request: dict) -> int:
    from grader.stack import make_backend

    client = _Client()
    options = dict(request.get("options") or {})
    if "compose_files" in options:
        options["compose_files"] = [Path(f) for f in options["compose_files"]]
    backend = make_backend(request["backend"], **options)
    return hold(backend, Path(request["stack_file"]), client, parent=request["parent"])


def main() -> int:
    return serve(json.loads(sys.argv[1]))


# -- the client ------------------------------------------------------------------------------------------
class StackProcess:
    """A ``StackBackend`` whose stack runs in a serve process (see the module's docstring).

    ``folder`` holds the private stack file and the serve process's log (the grading run's work folder);
    without one a temp folder of its own is made and removed at ``stop``."""

    def __init__(self, backend: str, folder: Path | None = None, **options):
        self.name = backend
        self.backend = backend
        self.options = options
        self.folder = folder
        self._own_folder = False
        self.proc: subprocess.Popen | None = None
        self.info: StackInfo | None = None
        self.log: Path | None = None

    def _request(self, stack_file: Path) -> str:
        options = dict(self.options)
        if "compose_files" in options:
            options["compose_files"] = [str(f) for f in options["compose_files"]]
        return json.dumps({"backend": self.backend, "options": options, "stack_file": str(stack_file),
                           "parent": os.getpid()})

    def _wait_limit(self) -> float:
        """A bound on the whole start: the backend's own deadlines (each service, the migration) come first."""
        return 5 * float(self.options.get("timeout") or 180) + 60

    def start(self) -> StackInfo:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="handson-stack-"))
            self._own_folder = True
            guard("+", "d", self.folder)
        stack_file = self.folder / "stack.json"
        self.log = self.folder / "stack-process.log"
        env = dict(os.environ)
        # The serve process imports this very grader, wherever it was imported from (a checkout, a worktree).
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        with open(self.log, "ab") as log:
            try:
                self.proc = subprocess.Popen([sys.executable, "-m", "grader.stack.serve", self._request(stack_file)],
                                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
                                             start_new_session=True)
            except OSError as e:
                raise StackError("stack", f"cannot start the stack's process: {e}") from e
        # Killed with the grader: the serve process's own guard then stops the services.
        guard("+", "g", self.proc.pid)
        answer = self._answer()
        if "error" in answer:
            error = answer["error"]
            self._reap()
            raise StackError(error["service"], error["cause"], error.get("log"), error.get("tail") or "")
        self.info = StackInfo.from_json(Path(answer["ready"]).read_text())
        return self.info

    def _answer(self) -> dict:
        """The serve process's one line; a process that exits or stays silent too long is reported, never
        waited on for ever."""
        deadline = time.monotonic() + self._wait_limit()
        fd = self.proc.stdout.fileno()
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise StackError("stack", f"the stack's process did not report within {self._wait_limit():.0f} s",
                                 self.log)
            readable, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
        try:
            return json.loads(data)
        except ValueError:
            code = self._reap()
            raise StackError("stack", f"the stack's process exited with code {code} before the stack was ready",
                             self.log) from None

    def _reap(self) -> int | None:
        try:
            return self.proc.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            kill_group(self.proc, timeout=0)
            return self.proc.returncode
        finally:
            guard("-", "g", self.proc.pid)

    def exited(self) -> int | None:
        """The serve process's exit code if it ended by itself (killed, crashed), else None."""
        return self.proc.poll() if self.proc is not None and self.info is not None else None

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
            self._reap()
            self.proc.stdout.close()
            self.proc = None
        if self._own_folder and self.folder is not None:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)
            guard("-", "d", self.folder)
            self.folder = None


def stack_client(backend: str, folder: Path | None = None, **options):
    """How a grader gets the stack ``backend``: a serve process for a backend that starts one, else the
    backend itself (``external`` only reads a stack someone else runs)."""
    from grader.stack import REGISTRY, make_backend

    entry = REGISTRY.get(backend)
    if entry is not None and entry.starts:
        return StackProcess(backend, folder, **options)
    options.pop("compose_files", None)
    return make_backend(backend, **options)


if __name__ == "__main__":
    sys.exit(main())
