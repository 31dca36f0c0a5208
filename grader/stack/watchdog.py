"""Self-healing for the stacks the grader starts: a service that dies or stops answering (killed,
SIGSTOPped, wedged) is restarted on its own data, on the same port, and the restart is recorded.

The stack's owner runs the watchdog: the stack's own process (grader/stack/serve.py, which the grading
session starts on first need, and ``python -m grader stack up`` runs in the foreground). Graders are its
clients: those that meet a failure wait for it (see GradingSession.ensure_healthy) and re-run what the outage touched,
reading the event file to know whether a restart happened while a script ran.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psutil

from grader.stack.base import ServiceProcess, StackError, outlives_services

# Consecutive failed probes before a live, running service counts as wedged (a stopped or dead one is
# restarted at once).
STRIKES = 2


def events(path: str | Path | None) -> list[dict]:
    if not path:
        return []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:  # the line the watchdog is writing right now (read again on the next look)
            continue
    return found


def generation(path: str | Path | None) -> int:
    """How many restarts were attempted so far (changes whenever the stack went through an outage)."""
    return len(events(path))


def _stopped(service: ServiceProcess) -> bool:
    try:
        return psutil.Process(service.pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except psutil.Error:
        return False


class Watchdog(threading.Thread):
    def __init__(self, services: list[ServiceProcess], events_file: Path, timeout: float = 120.0,
                 interval: float = 1.0):
        super().__init__(daemon=True, name="handson-watchdog")
        outlives_services(self)  # it restarts services, and lives as long as the stack
        self.services = services
        self.events_file = Path(events_file)
        self.timeout = timeout
        self.interval = interval
        self._halt = threading.Event()
        self._strikes: dict[str, int] = {}

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=self.timeout + 10)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            for service in list(self.services):
                if self._halt.is_set():
                    return
                cause = self._diagnose(service)
                if cause:
                    self._restart(service, cause)

    def _diagnose(self, service: ServiceProcess) -> str | None:
        if not service.alive():
            return f"exited with code {service.proc.returncode if service.proc else None}"
        if _stopped(service):
            return "stopped (SIGSTOP)"
        try:
            probe = service.live or service.ready
            ok = bool(probe and probe())
        except Exception:
            ok = False
        if ok:
            self._strikes[service.name] = 0
            return None
        self._strikes[service.name] = self._strikes.get(service.name, 0) + 1
        return "stopped answering" if self._strikes[service.name] >= STRIKES else None

    def _restart(self, service: ServiceProcess, cause: str) -> None:
        started = time.time()
        event = {"time": started, "service": service.name, "cause": cause}
        try:
            service.restart(self.timeout)
            event["restarted"] = True
        except StackError as e:
            event.update(restarted=False, error=e.cause)
        except Exception as e:  # a watchdog must never die of what it watches
            event.update(restarted=False, error=f"{type(e).__name__}: {e}")
        event["seconds"] = round(time.time() - started, 2)
        self._strikes[service.name] = 0
        with open(self.events_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")
